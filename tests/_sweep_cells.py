"""Cell functions used by tests/test_sweep.py (importable by worker processes via sys.path)."""

from __future__ import annotations

import os
import time

import numpy as np


def square(config, ctx):
    """Writes x² to value.npy; logs each start to config['log'] when given; raises for x < 0."""
    if config.get("log"):
        with open(config["log"], "a") as fh:
            fh.write(f"{config['x']}\n")
            fh.flush()
            os.fsync(fh.fileno())
    time.sleep(config.get("sleep", 0.0))
    if config["x"] < 0:
        raise RuntimeError("negative input")
    np.save(ctx.out / "value.npy", np.array([config["x"] ** 2]))
    return {"square": config["x"] ** 2}


def reader(config, ctx):
    return {"read": int(np.load(ctx.path_of(config["source"]) / "value.npy")[0])}


def draw(config, ctx):
    """Draws from the global RNGs of torch, NumPy and random (as dropout would)."""
    import random

    import torch

    return {
        "torch": torch.rand(config["n"]).tolist(),
        "numpy": np.random.rand(config["n"]).tolist(),  # noqa: NPY002
        "random": [random.random() for _ in range(config["n"])],
    }
