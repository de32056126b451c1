"""Synthetic multi-view captures in NeRSemble's on-disk layouts, with exact truth.

    from facebench.synth import synthesize
    result = synthesize("capture", preset="small", layout="v1", seed=0)

See docs/SYNTH.md.  Modules: ``rig`` (cameras), ``motion`` (identities and
performances), ``scene`` (geometry, shading, ray casting), ``depth`` (PNG depth
codec and MVS-like defects), ``layouts`` (v1 / v2 / benchmark writers),
``truth`` (truth folder and exact GT shards), ``api`` (``synthesize``).
"""

from facebench.synth.api import PRESETS, SynthResult, synthesize
from facebench.synth.rig import FRONTAL_SERIAL, SERIALS, Rig, make_rig

__all__ = ["FRONTAL_SERIAL", "PRESETS", "SERIALS", "Rig", "SynthResult", "make_rig", "synthesize"]
