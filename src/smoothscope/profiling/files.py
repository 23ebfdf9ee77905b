"""Profiles on disk: ``profile.json`` read back with every field checked, and the output folder.

:func:`load_profile` refuses, in one line naming the field, anything
:meth:`~smoothscope.profiling.Profile.to_json` would not have written: a seed that is not a
non-negative integer, settings that are not an object of numbers, layers that are not names,
lens rows that are not objects with a layer name and numeric metrics, numbers too large for a
float.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import SmoothscopeError
from .._io import _jsonable, check_writable_dir, load_json, save_json
from .compare import Comparison
from .core import LENSES, Profile
from .lenses import METRICS

__all__ = ["PROFILE_FILE", "load_profile", "write_profile_dir"]

PROFILE_FILE = "profile.json"
READABLE_SCHEMAS = (1, 2)
MAX_LAYERS = 100_000


def _number(value: Any) -> bool:
    """A JSON number a float can hold (null stands for NaN)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, int) or abs(value) < 2**1000


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(_number(v) for v in value)


def _check(ok: bool, path: Any, field: str, expected: str, value: Any) -> None:
    if not ok:
        text = repr(value)
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise SmoothscopeError(
            f"{path}: not a smoothscope profile: {field} should be {expected}, got {shown}"
        )


def _check_lens(path: Any, lens: str, result: Any) -> None:
    _check(isinstance(result, dict), path, f"lenses.{lens}", "an object", result)
    if "applies" in result:
        _check(isinstance(result["applies"], bool), path, f"lenses.{lens}.applies", "true or "
               "false", result["applies"])  # fmt: skip
    if result.get("applies") is False:
        return
    if lens in METRICS:
        rows = result.get("layers")
        _check(isinstance(rows, list), path, f"lenses.{lens}.layers", "a list", rows)
        for i, row in enumerate(rows):
            where = f"lenses.{lens}.layers[{i}]"
            _check(isinstance(row, dict), path, where, "an object", row)
            _check(isinstance(row.get("layer"), str), path, f"{where}.layer", "a name",
                   row.get("layer"))  # fmt: skip
            for metric, se_key in METRICS[lens]:
                for key in (metric, se_key) if se_key else (metric,):
                    _check(_number(row.get(key)), path, f"{where}.{key}", "a number",
                           row.get(key))  # fmt: skip
        spectra = result.get("spectra", {})
        _check(isinstance(spectra, dict), path, f"lenses.{lens}.spectra", "an object", spectra)
        for name, s in spectra.items():
            ok = isinstance(s, dict) and _numbers(s.get("k")) and _numbers(s.get("power"))
            _check(ok, path, f"lenses.{lens}.spectra.{name}", "{k: [...], power: [...]}", s)
    else:
        for key in ("beta", "beta_se"):
            _check(_number(result.get(key)), path, f"lenses.D.{key}", "a number",
                   result.get(key))  # fmt: skip
        scales = result.get("scales")
        ok = isinstance(scales, list) and all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s < 10_000 for s in scales
        )
        _check(ok, path, "lenses.D.scales", "a list of positive integers", scales)
        for key in ("output_jump", "input_jump"):
            values = result.get(key)
            ok = _numbers(values) and len(values) == len(scales)
            _check(ok, path, f"lenses.D.{key}", f"{len(scales)} numbers", values)


def _nan_rows(lenses: dict[str, Any]) -> None:
    for result in lenses.values():
        for row in result.get("layers", []):
            for key, value in list(row.items()):
                if key != "layer" and value is None:
                    row[key] = math.nan


def load_profile(path: str | os.PathLike) -> Profile:
    """Read a profile written by :meth:`Profile.to_json`, or the ``profile.json`` of a folder
    written by :func:`write_profile_dir` (one-line error on anything else)."""
    path = Path(path)
    if path.is_dir():
        path = path / PROFILE_FILE
    data = load_json(path)
    keys = ("schema", "model", "inputs", "seed", "settings", "layers", "lenses")
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise SmoothscopeError(f"{path}: expected a profile JSON written by smoothscope profile")
    schema = data["schema"]
    _check(schema in READABLE_SCHEMAS and not isinstance(schema, bool), path, "schema",
           f"one of {READABLE_SCHEMAS}", schema)  # fmt: skip
    for key in ("model", "inputs"):
        _check(isinstance(data[key], str), path, key, "a string", data[key])
    seed = data["seed"]
    ok = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**64
    _check(ok, path, "seed", "a non-negative integer", seed)
    settings = data["settings"]
    ok = isinstance(settings, dict) and all(
        _number(v) or _numbers(v) for v in settings.values()
    )
    _check(ok, path, "settings", "an object of numbers", settings)
    layers = data["layers"]
    ok = isinstance(layers, list) and 0 < len(layers) <= MAX_LAYERS
    _check(ok and all(isinstance(n, str) for n in layers), path, "layers", "a list of names",
           layers)  # fmt: skip
    lenses = data["lenses"]
    _check(isinstance(lenses, dict) and set(lenses) <= set(LENSES), path, "lenses",
           f"an object with keys among {', '.join(LENSES)}", lenses)  # fmt: skip
    for lens, result in lenses.items():
        _check_lens(path, lens, result)
    seconds = data.get("seconds", {})
    _check(isinstance(seconds, dict) and all(_number(v) for v in seconds.values()), path,
           "seconds", "an object of numbers", seconds)  # fmt: skip
    notes = data.get("notes", [])
    _check(isinstance(notes, list) and all(isinstance(n, str) for n in notes), path, "notes",
           "a list of strings", notes)  # fmt: skip
    for key in ("weights", "inputs_source"):
        value = data.get(key)
        _check(value is None or isinstance(value, Mapping), path, key, "an object or null",
               value)  # fmt: skip
    output = data.get("output", "tensor")
    _check(isinstance(output, str), path, "output", "a string", output)
    _nan_rows(lenses)
    return Profile(
        model=data["model"],
        inputs=data["inputs"],
        seed=seed,
        settings=dict(settings),
        layers=list(layers),
        lenses=lenses,
        seconds={k: math.nan if v is None else float(v) for k, v in seconds.items()},
        output=output,
        notes=list(notes),
        weights=data.get("weights"),
        inputs_source=data.get("inputs_source"),
    )


def write_profile_dir(result: Profile | Comparison, out: str | os.PathLike) -> dict[str, str]:
    """Write ``profile.json``/``profile.csv`` (or ``comparison.json``) and ``card.html``."""
    out = check_writable_dir(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    if isinstance(result, Profile):
        files["json"] = str(out / PROFILE_FILE)
        result.to_json(files["json"])
        files["csv"] = str(out / "profile.csv")
        result.to_csv(files["csv"])
    else:
        files["json"] = str(out / "comparison.json")
        save_json(files["json"], _jsonable(result.to_dict()))
    files["card"] = str(result.card(out / "card.html"))
    return files
