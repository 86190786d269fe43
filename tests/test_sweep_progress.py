"""engine.sweep.progress: the stderr bar draws only on a terminal and says how far it got."""

from __future__ import annotations

import io

from engine.sweep.progress import ProgressBar


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_bar_draws_on_a_terminal_and_clears_its_line():
    stream = _Tty()
    bar = ProgressBar(10_000, stream=stream)
    assert bar.enabled
    bar.update(10_000)
    text = stream.getvalue()
    assert "[" + "#" * 30 + "] 100%" in text and "10,000/10,000 combos" in text
    bar.close()
    assert stream.getvalue().endswith("\r")


def test_bar_is_silent_off_a_terminal_or_when_disabled():
    for stream, enabled in ((io.StringIO(), None), (_Tty(), False)):
        bar = ProgressBar(100, enabled=enabled, stream=stream)
        bar.update(50)
        bar.close()
        assert stream.getvalue() == ""


def test_line_counts_resumed_combos_as_done():
    bar = ProgressBar(200, enabled=False)
    bar.resumed(100)
    assert "[" + "#" * 15 + "." * 15 + "]  50%" in bar.line(100)
    assert "100/200 combos" in bar.line(100)
