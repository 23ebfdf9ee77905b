"""Test helpers that live beside the tests (``_procs``, ``_sweep_cells``) are importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
