"""Atomic writes and safe checkpoint loading."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from smoothscope import SmoothscopeError
from smoothscope._io import load_json, load_state_dict, save_json, save_state_dict


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_state_dict_round_trip(tmp_path: Path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(2)}
    path = save_state_dict(tmp_path / "m.pt", state)
    loaded = load_state_dict(path)
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_untrusted_pickle_is_refused(tmp_path: Path):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": _Evil()}))
    with pytest.raises(SmoothscopeError, match="state_dict"):
        load_state_dict(path)
    with pytest.raises(SmoothscopeError, match="found none"):
        load_state_dict(tmp_path / "missing.pt")


def test_json_round_trip_and_errors(tmp_path: Path):
    save_json(tmp_path / "a.json", {"x": torch.tensor([1.5]), "y": float("nan")})
    assert load_json(tmp_path / "a.json") == {"x": [1.5], "y": None}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SmoothscopeError, match="valid JSON"):
        load_json(tmp_path / "bad.json")


def test_paths_inside_a_run_directory_become_relative(tmp_path: Path):
    from smoothscope._io import relative_paths

    run = tmp_path / "run"
    stored = relative_paths(
        {"figures": [str(run / "figures" / "a.png"), run / "b.npz"], "other": "/elsewhere/c"},
        run,
    )
    assert stored == {"figures": ["figures/a.png", "b.npz"], "other": "/elsewhere/c"}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_refusal_does_not_repeat_torchs_advice_to_unpickle(tmp_path: Path):
    torch.save({"w": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(SmoothscopeError, match="unpickling them could run code") as info:
        load_state_dict(tmp_path / "evil.pt")
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
