"""Where a sequence's geometry comes from: depth maps, a point cloud, multi-view stereo or a visual hull.

``depth`` in the pipeline configuration (or ``prepare nersemble --depth``) chooses it:

=============  ===============================================================  =====================
source         what it uses                                                     layouts that have it
=============  ===============================================================  =====================
``maps``       the capture's per-camera depth maps (COLMAP MVS in NeRSemble v1)  v1
``pointcloud`` the capture's per-frame ``.pcd``                                 benchmark
``mvs``        facebench's own multi-view stereo over the calibrated images     any, >= 2 cameras
``hull``       the visual hull of the foreground masks (coarse: no concavities)  any with masks
``auto``       the first of the above that the sequence has (default)
=============  ===============================================================  =====================

The choice is part of the configuration, so it is recorded (and hashed) in the manifest.
"""

from __future__ import annotations

import numpy as np

from facebench.errors import InputError

DEPTH_SOURCES = ("auto", "maps", "pointcloud", "mvs", "hull")


def available_sources(capture, participant, sequence, frame_ids, views) -> list[str]:
    """The depth sources a sequence offers, best first."""
    out = []
    if any(d is not None for d in views.depths):
        out.append("maps")
    if capture.read_pointcloud(participant, sequence, int(frame_ids[0])) is not None:
        out.append("pointcloud")
    if len(views.cameras) >= 2:
        out.append("mvs")
    out.append("hull")  # every sequence has masks: alpha maps, or computed from the images
    return out


def choose_source(requested: str, capture, participant, sequence, frame_ids, views) -> str:
    """``requested`` (one of :data:`DEPTH_SOURCES`) resolved for this sequence; InputError if absent."""
    if requested not in DEPTH_SOURCES:
        raise InputError(f"depth source must be one of {', '.join(DEPTH_SOURCES)}, got {requested!r}")
    have = available_sources(capture, participant, sequence, frame_ids, views)
    if requested == "auto":
        if not have:
            raise InputError(f"{participant}/{sequence}: no depth maps, point cloud, second camera or "
                             "background images to fit the template to", capture.root)
        return have[0]
    if requested not in have:
        raise InputError(f"{participant}/{sequence}: depth source '{requested}' asked for, but the sequence "
                         f"has none (available: {', '.join(have) or 'nothing'})", capture.root)
    return requested


def stereo_depths(views, centers_world, config, progress=None) -> dict:
    """Multi-view stereo for every frame of ``views`` (:class:`facebench.prepare.sequence.Views`).

    centers_world (T,3): the subject's centre per frame.  Returns ``{"depths": per camera (T,H,W)
    float32 (consistency-filtered, NaN invalid), "confidence": per camera (T,H,W) float32 ZNCC,
    "support": per camera (T,H,W) int16 agreeing views}``.
    """
    from facebench.prepare import mvs

    C, T = len(views.cameras), len(views.images[0])
    shape = [(T,) + im.shape[1:3] for im in views.images]
    depths = [np.full(s, np.nan, np.float32) for s in shape]
    confidence = [np.full(s, np.nan, np.float32) for s in shape]
    support = [np.zeros(s, np.int16) for s in shape]
    for t in range(T):
        masks = [views.alphas[i][t] >= 0.5 for i in range(C)]
        raw = mvs.stereo_frame(views.cameras, [views.images[i][t] for i in range(C)], masks,
                               centers_world[t], config)
        filtered, agree = mvs.consistency_filter(views.cameras, raw, config)
        for i in range(C):
            depths[i][t], confidence[i][t], support[i][t] = filtered[i], raw[i].confidence, agree[i]
        if progress is not None:
            progress(t + 1, T)
    return {"depths": depths, "confidence": confidence, "support": support}


def stereo_coverage(stereo: dict, views) -> np.ndarray:
    """(T,) per frame, the median over cameras of the share of foreground pixels with a stereo depth."""
    shares = []
    for i in range(len(views.serials)):
        fg, have = _with_depth(stereo, views, i)
        shares.append(have.sum((1, 2)) / np.maximum(fg.sum((1, 2)), 1))
    return np.median(np.stack(shares), axis=0)


def _with_depth(stereo: dict, views, i: int):
    """Camera ``i``'s foreground (T,H,W) and the part of it with a stereo depth."""
    fg = views.alphas[i] >= 0.5
    return fg, np.isfinite(stereo["depths"][i]) & fg


def stereo_summary(stereo: dict, views) -> dict:
    """Per camera: share of foreground pixels with a stereo depth and their median confidence."""
    out = {}
    for i, serial in enumerate(views.serials):
        fg, have = _with_depth(stereo, views, i)
        conf = stereo["confidence"][i][have]
        out[serial] = {"coverage": round(float(have.sum() / max(fg.sum(), 1)), 4),
                       "confidence_median": round(float(np.median(conf)), 4) if conf.size else None}
    return out
