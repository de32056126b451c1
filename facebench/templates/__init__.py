"""Canonical templates (SPEC section 2) behind one interface.

>>> from facebench.templates import load
>>> ict = load()                                    # the default, "ict-light" (ICT-FaceKit, MIT)
>>> head = load("facebench-head")                   # the built-in procedural head
>>> flame = load("flame:/data/flame2023.pkl")       # the user's own FLAME pickle
>>> flame = load("flame:/data/generic_model.pkl?landmarks=/data/landmark_embedding.npz")

See docs/TEMPLATES.md for the coordinate conventions, parameters and regions.
"""

from __future__ import annotations

from pathlib import Path

from facebench.errors import FacebenchError, did_you_mean
from facebench.templates.template import Template

DEFAULT_TEMPLATE = "ict-light"
NAMES = ("ict-light", "facebench-head", "flame")
REGION_NAMES = {1: "face", 2: "scalp", 3: "ears", 4: "neck", 5: "eyes", 6: "mouth interior"}

_LOADED: dict = {}


def load(name_or_path: str = DEFAULT_TEMPLATE, landmarks=None) -> Template:
    """A template by name.

    ``"ict-light"`` (default): the ICT Face Model Light, shipped in derived form (MIT).
    ``"facebench-head"``: the built-in procedural head (synth-v1, nersemble-v1).
    ``"flame:/path/generic_model.pkl"`` (or ``flame2023.pkl``): FLAME from the user's
    pickle; a landmark embedding is given with ``landmarks=PATH`` or appended as
    ``"?landmarks=PATH"``.  A bare path to a ``.pkl`` file is read as FLAME too.
    Templates are cached per process (the same object is returned again).
    """
    spec = str(name_or_path or DEFAULT_TEMPLATE).strip()
    if "?landmarks=" in spec:
        spec, lmk = spec.split("?landmarks=", 1)
        landmarks = landmarks or lmk
    key = (spec, str(landmarks) if landmarks else None)
    if key in _LOADED:
        return _LOADED[key]
    if spec == "facebench-head":
        from facebench.templates.head import load_head

        template = load_head()
    elif spec == "ict-light":
        from facebench.templates.ict import load_ict_light

        template = load_ict_light()
    elif spec.startswith("flame:") or spec.endswith(".pkl"):
        from facebench.templates.flame import load_flame

        path = spec.split(":", 1)[1] if spec.startswith("flame:") else spec
        if not path:
            raise FacebenchError("flame needs the path of your FLAME pickle: flame:/path/to/flame2023.pkl")
        template = load_flame(Path(path).expanduser(), landmarks=landmarks)
    else:
        hint = did_you_mean(spec, NAMES)
        raise FacebenchError(
            f"unknown template {spec!r}{hint}; use 'ict-light', 'facebench-head' or "
            "'flame:/path/to/flame2023.pkl'")
    _LOADED[key] = template
    return template


__all__ = ["DEFAULT_TEMPLATE", "REGION_NAMES", "Template", "load"]
