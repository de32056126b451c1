"""``predict`` for the baseline rows on a GT folder (the maps: :mod:`facebench.baseline.inference`).

Methods: ``transformer`` (the reference model; default checkpoint = the shipped
``tiny``), and the trivial rows ``mean-depth-plane`` and ``template-frontal``
(see :mod:`facebench.baseline.trivial`).  Only the clip's images, camera and
the tracks' query pixels (frame, xy at that frame) are used; GT maps are never
read.  Maps are written at the clip's stored resolution.
"""

from __future__ import annotations

from facebench.baseline.inference import run_transformer  # noqa: F401  (kept importable from here)
from facebench.errors import FacebenchError, did_you_mean

METHODS = ("transformer", "mean-depth-plane", "template-frontal")


def predict(gt_dir, out_dir, checkpoint=None, method: str = "transformer",
            frames_per_window: int | None = None, device: str | None = None, clips=None,
            benchmark: str | None = None, max_distance: float = 0.05, progress: bool = True,
            precision: str | None = "auto", batch_windows: int = 8, compile: bool = False) -> dict:
    """Predict every clip (or ``clips``) of ``gt_dir`` into ``out_dir`` with one of ``METHODS``.

    The same as ``facebench predict METHOD --gt GT_DIR`` (the method registry,
    :mod:`facebench.methods`), kept for ``facebench baseline predict`` and scripts.
    Returns the meta.json dict plus ``clips`` and ``frames`` counts.  ``benchmark``
    defaults to the one the GT folder names; ``max_distance`` (normalized canonical
    units) is the canonical match distance under which a tracked point is visible.
    ``device`` (auto|cpu|cuda|cuda:N|mps), ``precision`` (auto|fp32|bf16), ``compile`` and
    ``batch_windows`` (windows per forward pass) only concern the transformer.
    """
    from facebench.methods.run import predict as run

    if method not in METHODS:
        raise FacebenchError(f"unknown method {method!r}{did_you_mean(method, METHODS)}; choose from "
                             f"{', '.join(METHODS)}")
    return run(method, out_dir, gt=gt_dir, benchmark=benchmark, clips=clips, progress=progress,
               checkpoint=checkpoint, frames_per_window=frames_per_window, device=device,
               track_distance=max_distance, precision=precision, batch_windows=batch_windows, compile=compile)
