"""Captures that ship a registered mesh per frame (Ava-256, Multiface).

Both datasets track one fixed mesh topology over every frame of a capture, next to
multi-view images.  Their readers expose the same :class:`RegisteredCapture` interface
(:mod:`facebench.registered.capture`), which ``prepare ava256`` / ``prepare multiface``
consume; see ``docs/REGISTERED.md``.
"""

from facebench.registered.capture import RegisteredCapture, RegisteredView

__all__ = ["RegisteredCapture", "RegisteredView"]
