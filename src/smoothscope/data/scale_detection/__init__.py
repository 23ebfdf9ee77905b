"""The two scale-detection tasks of paper B (Tomasini et al. 2023, §3–4) and their deformation.

* :mod:`.tasks`: the tasks (:class:`ScaleTask`: task 1, distance against the scale ξ; task 2,
  same patch of size ξ), their labels and exact class counts, uniform sampling of pixel pairs
  and the rendered inputs with two active pixels.
* :mod:`.deformation`: :func:`deform`, the one-step moves of the active pixels that play the
  role of the diffeomorphisms for D_k (§3–4).

Shapes: pairs ``[M, 2]`` int64 of flat pixel indices, labels ``[M]`` int64 in {−1, +1}, inputs
``[P, 1, L]`` (1D) or ``[P, 1, L, L]`` (2D). Randomness comes only from an explicit
``torch.Generator``.
"""

from .deformation import MAX_DISTANCE_CHANGE as MAX_DISTANCE_CHANGE
from .deformation import deform as deform
from .tasks import BOUNDARIES as BOUNDARIES
from .tasks import DISTANCES as DISTANCES
from .tasks import ENUMERATE_LIMIT as ENUMERATE_LIMIT
from .tasks import ScaleTask as ScaleTask
from .tasks import active_value as active_value
from .tasks import class_counts as class_counts
from .tasks import enumerate_pairs as enumerate_pairs
from .tasks import pair_labels as pair_labels
from .tasks import render_pairs as render_pairs
from .tasks import sample_dataset as sample_dataset
from .tasks import sample_pairs as sample_pairs

__all__ = [
    "BOUNDARIES",
    "DISTANCES",
    "ENUMERATE_LIMIT",
    "MAX_DISTANCE_CHANGE",
    "ScaleTask",
    "active_value",
    "class_counts",
    "deform",
    "enumerate_pairs",
    "pair_labels",
    "render_pairs",
    "sample_dataset",
    "sample_pairs",
]
