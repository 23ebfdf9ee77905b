"""Sweeps: cells (pure functions of a small JSON config) run through one executor seam.

A :class:`Cell` names a function by import path (``"smoothscope.experiments.nonsmoothness:
train_cell"``) and a JSON-serialisable config. Its id hashes both with the package version and
the cell's thread count, so a changed config or a new release recomputes. The function receives
the config and a :class:`CellContext` and returns a JSON-serialisable summary; it may also write
files (checkpoints, arrays) into ``ctx.out``. The worker writes everything into a temporary
folder and renames it to ``root/<id>`` when the cell has finished, so a cell folder either is
complete or does not exist: an interrupted sweep resumes by skipping the cells whose folder
exists. Models and data travel between processes as file paths under ``root`` and small JSON
configs, never as pickled closures.

Determinism: a cell seeds itself from its config and runs with a fixed number of intra-op
threads (``Cell.threads``, default 1: on CPU, PyTorch's reductions give different bits with
different thread counts). Before it runs, :func:`run_cell` also seeds the global RNGs of torch,
NumPy and :mod:`random` from :func:`cell_seed` (dropout and other code that draws from them
then gives the same bits whichever cells ran before in that worker) and restores the caller's
RNG states afterwards. A cell's result does not depend on which worker ran it, in which order,
or on which executor.

Faults: ``result.json`` records a SHA-256 of every file of the cell. A cell whose
``result.json`` is unreadable or whose files no longer match is *corrupt*: it is recomputed,
after a :class:`CorruptCellWarning` that names the file (the corrupt folder is removed). Stale
temporary folders (``.<id>.tmp-*``) of processes that no longer run are removed when a sweep
starts.

Executors share the :class:`concurrent.futures.Executor` interface (:func:`open_executor`):

* ``inprocess``: runs each cell when submitted, in this process (default of the Python API);
* ``process``: a local process pool (``--jobs N``; default of the CLI); its workers die with
  their parent and ignore Ctrl-C (the parent stops them);
* ``dask``: a Dask cluster (``--address tcp://HOST:PORT``) or a local one (extra ``[dask]``);
* ``slurm``: SLURM through submitit (extra ``[slurm]``); refused when no SLURM is reachable;
* ``submitit-local``: submitit's local executor, the SLURM code path without SLURM (debugging).

``jobs`` bounds the cells running at once on every executor (for SLURM: jobs in the queue).
"""

from .cells import RESULT_FILE as RESULT_FILE
from .cells import STALE_FOREIGN_TMP_S as STALE_FOREIGN_TMP_S
from .cells import Cell as Cell
from .cells import CellContext as CellContext
from .cells import CellFailure as CellFailure
from .cells import CorruptCellWarning as CorruptCellWarning
from .cells import SweepError as SweepError
from .cells import cell_seed as cell_seed
from .cells import clean_stale_temporaries as clean_stale_temporaries
from .cells import derive_seed as derive_seed
from .cells import is_finished as is_finished
from .cells import run_cell as run_cell
from .cells import seeded_global_rngs as seeded_global_rngs
from .executors import DASK_CONNECT_TIMEOUT as DASK_CONNECT_TIMEOUT
from .executors import EXECUTORS as EXECUTORS
from .executors import SLURM_CLUSTERS as SLURM_CLUSTERS
from .executors import ExecutorSpec as ExecutorSpec
from .executors import InProcessExecutor as InProcessExecutor
from .executors import _BoundedExecutor as _BoundedExecutor
from .executors import check_slurm_reachable as check_slurm_reachable
from .executors import open_executor as open_executor
from .runner import run_cells as run_cells
from .runner import run_stages as run_stages

__all__ = [
    "EXECUTORS",
    "SLURM_CLUSTERS",
    "Cell",
    "CellContext",
    "CellFailure",
    "CorruptCellWarning",
    "ExecutorSpec",
    "InProcessExecutor",
    "SweepError",
    "cell_seed",
    "check_slurm_reachable",
    "clean_stale_temporaries",
    "derive_seed",
    "open_executor",
    "run_cell",
    "run_cells",
    "run_stages",
    "seeded_global_rngs",
]
