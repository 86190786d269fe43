"""Rendering report charts to PNG bytes: on the Agg canvas, in parallel where the machine allows.

Drawing the charts and encoding their PNGs is most of a report's cost, and the charts are
independent, so :func:`render_charts` shares them between this process and ``workers - 1``
*forked* children (one process per CPU, at most :data:`MAX_WORKERS`). A child inherits the
charts and their data at the fork, so nothing is pickled on the way in; it takes chart numbers
one at a time from a pipe that this process also reads (the costliest charts come first, so
the processes finish together) and hands back only PNG bytes, through its own pipe, once the
work is gone.

Failure handling is by design plain: a chart a child could not deliver (it raised, or the child
died) is rendered again here, so its exception, if any, is raised here with the real traceback.
A child takes the default action on SIGINT / SIGTERM (dies quietly), stops when its parent is
gone, and is killed and reaped if this process stops early (Ctrl-C, SIGTERM, an error): no
orphan, no zombie, no stray traceback.

Serial in this process instead: without ``os.fork`` or off Linux (where fork after importing
the macOS system frameworks is not safe), on one CPU, inside a daemonic process (a worker of a
multiprocessing pool: the CPUs are taken), or for a single chart. Either way the bytes are the
same: a chart's PNG depends only on its data, and it carries no timestamp or software tag.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

MAX_WORKERS = 2  # processes drawing charts, this one included
MAX_CHARTS = 255  # chart numbers travel as one byte
_RECORD = struct.Struct(">BI")  # a child's answer: chart number, PNG length, then the PNG


@dataclass(frozen=True)
class Chart:
    """One chart of a report: ``build(*args, **kwargs)`` returns its Figure.

    ``stem`` names the PNG file (``<stem>.png``), ``alt`` is the ``<img>`` alt text, ``cost``
    the relative time it takes to draw (the costliest charts are started first, so that two
    workers finish at about the same time).
    """

    stem: str
    alt: str
    build: Callable[..., Figure]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    cost: float = 1.0


def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """Draw ``fig`` on the Agg canvas and encode it as a PNG.

    An opaque image (the report charts: white background) is stored as RGB, without the alpha
    channel: smaller and quicker to compress. No text chunk is written (no "Software", no
    time), only the resolution, so the bytes depend on the figure alone.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    saved = fig.dpi
    if dpi is not None:
        fig.dpi = dpi
    try:
        canvas.draw()
        width, height = canvas.get_width_height(physical=True)
        image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA",
                                 0, 1)
        if image.getchannel("A").getextrema()[0] == 255:
            image = image.convert("RGB")
        else:
            image = image.copy()  # not a view of the canvas buffer
        res = round(fig.dpi)
    finally:
        fig.dpi = saved
    buf = io.BytesIO()
    image.save(buf, format="png", dpi=(res, res))
    return buf.getvalue()


def render(chart: Chart) -> bytes:
    """The PNG bytes of one chart, built and drawn in this process."""
    return figure_png(chart.build(*chart.args, **chart.kwargs))


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether charts may be drawn in forked children here (Linux, outside a daemon process)."""
    return (hasattr(os, "fork") and sys.platform.startswith("linux")
            and not multiprocessing.current_process().daemon)


def worker_count(n_charts: int, workers: int | None = None) -> int:
    """How many processes :func:`render_charts` uses, this one included; 1 means serially.

    ``workers`` None picks ``min(MAX_WORKERS, CPUs)``; never more processes than charts.
    """
    wanted = min(MAX_WORKERS, cpu_count()) if workers is None else workers
    wanted = min(wanted, n_charts)
    if wanted < 2 or n_charts > MAX_CHARTS or not can_fork():
        return 1
    return wanted


def render_charts(charts: Sequence[Chart], workers: int | None = None) -> list[bytes]:
    """PNG bytes of each chart, in the order given, drawn by :func:`worker_count` processes.

    An exception raised while building or drawing a chart is raised here.
    """
    n = worker_count(len(charts), workers)
    if n == 1:
        return [render(c) for c in charts]
    pngs: list[bytes | None] = [None] * len(charts)
    order = sorted(range(len(charts)), key=lambda i: -charts[i].cost)  # costliest first
    tasks_r, tasks_w = os.pipe()
    try:
        os.write(tasks_w, bytes(order))  # < PIPE_BUF: whole, at once; readers take one byte
    finally:
        os.close(tasks_w)  # so that an empty pipe reads as the end of the work
    children: dict[int, int] = {}  # pid -> read end of its answer pipe
    try:
        for _ in range(n - 1):
            try:
                pid, answers = _fork_child(charts, tasks_r, list(children.values()))
            except OSError:  # no memory, process limit: fewer helpers
                break
            children[pid] = answers
        started = time.monotonic()
        while task := os.read(tasks_r, 1):
            pngs[task[0]] = render(charts[task[0]])
        patience = max(30.0, 10.0 * (time.monotonic() - started))
        for pid in list(children):
            for i, png in _answers(children[pid], patience):
                pngs[i] = png
            _reap(pid, children.pop(pid))
    finally:
        for pid, answers in children.items():  # left early: an error, Ctrl-C, SIGTERM
            _reap(pid, answers)
        os.close(tasks_r)
    # Whatever a child did not deliver (it raised or died) is drawn here; errors surface here.
    return [png if png is not None else render(c) for png, c in zip(pngs, charts, strict=True)]


def _fork_child(charts: Sequence[Chart], tasks_r: int, others: list[int]) -> tuple[int, int]:
    """Fork a child that draws charts named on ``tasks_r``; returns its pid and answer pipe."""
    parent = os.getpid()
    answers_r, answers_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing buffered twice
        if stream is not None:
            stream.flush()
    try:
        pid = os.fork()
    except OSError:
        os.close(answers_r)
        os.close(answers_w)
        raise
    if pid == 0:  # the child: never returns
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            for fd in (answers_r, *others):
                os.close(fd)
            _child(charts, tasks_r, answers_w, parent)
            code = 0
        finally:
            os._exit(code)  # no atexit handlers, no finalizers, no flush of inherited buffers
    os.close(answers_w)
    return pid, answers_r


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PDEATHSIG
    except (OSError, AttributeError):
        pass  # no prctl: the loop in _child still stops once the parent is gone


def _child(charts: Sequence[Chart], tasks_r: int, answers_w: int, parent: int) -> None:
    _die_with_parent()
    out = []
    while os.getppid() == parent and (task := os.read(tasks_r, 1)):
        i = task[0]
        try:
            png = render(charts[i])
        except Exception:  # the parent draws it again and raises the error itself
            continue
        out.append(_RECORD.pack(i, len(png)))
        out.append(png)
    data = memoryview(b"".join(out))
    while data:  # a parent that is gone: BrokenPipeError, and the child exits
        data = data[os.write(answers_w, data):]


def _answers(fd: int, patience: float) -> list[tuple[int, bytes]]:
    """The complete (chart, PNG) records a child writes before closing its pipe."""
    chunks = []
    deadline = time.monotonic() + patience
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poll.poll(left * 1000.0):
            break  # a stuck child: it is killed, and its charts are drawn here
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    data, pos, out = b"".join(chunks), 0, []
    while pos + _RECORD.size <= len(data):
        i, size = _RECORD.unpack_from(data, pos)
        pos += _RECORD.size
        if pos + size > len(data):
            break  # cut short: the child died while writing
        out.append((i, data[pos:pos + size]))
        pos += size
    return out


def _reap(pid: int, answers: int) -> None:
    """Close a child's answer pipe, kill the child and wait for it (no zombie left).

    Killing is harmless when it has already answered (it is exiting or exited; not yet reaped,
    so the pid cannot belong to another process) and needed when it is stuck or still working.
    """
    os.close(answers)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
