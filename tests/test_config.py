"""Config loading: strictness, did-you-mean, file and line in every message, the run hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError

GOOD = Path(__file__).resolve().parent.parent / "configs" / "rotation.yaml"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def base(**replace) -> str:
    text = GOOD.read_text()
    for old, new in replace.items():
        text = text.replace(old.replace("__", " "), new)
    return text


def test_the_shipped_config_resolves_with_defaults():
    cfg = load_config(GOOD)
    assert cfg.params["signal"] == "ma" and cfg.params["universe"] == ["IWM", "SPY", "QQQ"]
    assert len(cfg.config_hash()) == 64


def test_the_hash_changes_with_any_resolved_value_and_only_then(tmp_path):
    a = load_config(GOOD).config_hash()
    assert load_config(write(tmp_path, GOOD.read_text() + "\n# a comment\n")).config_hash() == a
    assert load_config(write(tmp_path, base(**{"band: 2.0": "band: 2.5"}))).config_hash() != a


@pytest.mark.parametrize("edit,fragment", [
    ({"portfolio:": "portfolo:"},
     r"line 19: unknown key 'portfolo' \(did you mean 'portfolio'\?\)"),
    ({"fees_bps: 1.0": "fess_bps: 1.0"},
     r"unknown key 'portfolio.fess_bps' \(did you mean 'fees_bps'"),
    ({"window: 200": "windw: 200"},
     r"line 14: unknown key 'params.windw' \(did you mean 'window'"),
    ({"strategy: rotation": "strategy: rotaton"},
     r"line 4: unknown strategy 'rotaton' \(did you mean 'rotation'"),
    ({"window: 200": "window: many"}, r"params.window: Input should be a valid integer"),
    ({"fees_bps: 1.0": "fees_bps: -1"},
     r"portfolio.fees_bps: Input should be greater than or equal to 0"),
    ({"initial_cash: 100000": "initial_cash: 0"},
     r"portfolio.initial_cash: Input should be greater than 0"),
    ({"start: 2001-01-02": "start: 2001-01-02\n  end: 2000-01-01"},
     r"data.end 2000-01-01 is before data.start"),
    ({"risk_off: SPY": "risk_off: QQQ"},
     r"line 18: params.risk_off: ticker 'QQQ' is not in data.tickers"),
    ({"signal: ma": "signal: crossover\n  fast: 300\n  slow: 100"},
     r"fast \(300\) must be smaller than slow"),
])
def test_config_errors_say_what_and_where(tmp_path, edit, fragment):
    path = write(tmp_path, base(**edit))
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text,fragment", [
    ("", "the file is empty"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("name: x\n\tstrategy: y\n", "line 2: not valid YAML"),
    ("!!python/object/apply:os.system ['echo hacked']\n", "tag refused"),
])
def test_unreadable_yaml_is_refused(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(write(tmp_path, text))
