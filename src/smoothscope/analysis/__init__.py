"""The papers' quantities computed from recordings (SMP maps, AveNonSmooth, ...)."""

from .nonsmoothness import VideoNonsmoothness as VideoNonsmoothness
from .nonsmoothness import reconstruct_videos as reconstruct_videos
from .nonsmoothness import video_nonsmoothness as video_nonsmoothness

__all__ = ["VideoNonsmoothness", "reconstruct_videos", "video_nonsmoothness"]
