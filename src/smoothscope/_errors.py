"""The one exception family of smoothscope."""

from __future__ import annotations

__all__ = ["SmoothscopeError"]


class SmoothscopeError(ValueError):
    """Bad input or an impossible request; the message names what was expected and what was given.

    The CLI prints it on one line and exits with code 2.
    """
