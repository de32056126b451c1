"""One registry of prediction methods: ``facebench predict METHOD`` runs any of them.

A method is registered with one call, naming a factory by ``"module:function"``
so that nothing heavy is imported until the method is used::

    register("my-method", "mypackage.mymethod:make", "One line shown by `facebench predict --list`.")

The factory takes keyword options (``checkpoint``, ``device``, ``template``,
``frames_per_window``, ... ; unknown ones must be accepted and ignored, see
:class:`facebench.methods.base.Options`) and returns a
:class:`facebench.methods.base.Method`, whose ``predict_clip(clip)`` maps one
:class:`~facebench.methods.base.ClipInput` (images, camera, query points) to
SPEC §5 arrays.  The driver (:mod:`facebench.methods.run`) reads the input
(GT clips, a frame folder or a video), crops to the face, writes the
predictions, tracks and overlays; a method only predicts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from facebench.errors import FacebenchError, did_you_mean


@dataclass(frozen=True)
class MethodInfo:
    name: str
    target: str  # "module:factory"
    description: str

    def factory(self):
        module, attr = self.target.split(":")
        return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, MethodInfo] = {}


def register(name: str, target: str, description: str) -> MethodInfo:
    """Register a method under ``name`` (a later registration of the same name replaces it)."""
    if ":" not in target:
        raise ValueError(f"method target must be 'module:factory', got {target!r}")
    info = MethodInfo(name, target, description)
    _REGISTRY[name] = info
    return info


def method_names() -> list[str]:
    return sorted(_REGISTRY)


def get_method(name: str) -> MethodInfo:
    """The registered method ``name``, or a one-line error with a did-you-mean hint."""
    if name not in _REGISTRY:
        raise FacebenchError(
            f"unknown method {name!r}{did_you_mean(name, _REGISTRY)}; choose from {', '.join(method_names())}"
        )
    return _REGISTRY[name]


def make_method(name: str, **options):
    """Build the method ``name`` with its options (see :class:`facebench.methods.base.Options`)."""
    from facebench.methods.base import Options

    return get_method(name).factory()(Options(**options))


register(
    "transformer",
    "facebench.methods.builtin:transformer",
    "Reference feed-forward transformer (shipped tiny: landmark-fit prior per frame, domain-randomised "
    "ICT renders).",
)
register(
    "transformer-ict",
    "facebench.methods.builtin:transformer_ict",
    "The reference transformer with the rig-aimed template prior (checkpoint tiny-ict, ICT subjects).",
)
register(
    "transformer-head",
    "facebench.methods.builtin:transformer_head",
    "The reference transformer trained on procedural facebench-head subjects (checkpoint tiny-head).",
)
register(
    "transformer-frame",
    "facebench.methods.builtin:transformer_frame",
    "The reference transformer (tiny) with a window of one frame: a per-frame method, for comparison.",
)
register(
    "template-frontal",
    "facebench.methods.builtin:template_frontal",
    "Trivial floor: the neutral template at the world origin seen by the clip's camera.",
)
register(
    "mean-depth-plane",
    "facebench.methods.builtin:mean_depth_plane",
    "Trivial floor: constant depth at the world origin, canonical 0, static tracks.",
)
register(
    "landmark-fit",
    "facebench.methods.landmark_fit:make",
    "Template fitted per clip to MediaPipe landmarks (needs facebench[landmarks]).",
)

register(
    "face-anything",
    "facebench.adapters.face_anything:method",
    "Face Anything (Depth Anything 3 + canonical head); needs --checkpoint (relative depth).",
)

__all__ = ["MethodInfo", "get_method", "make_method", "method_names", "register"]
