"""Geometric consistency of per-view stereo depths (:mod:`facebench.prepare.mvs`): a depth is kept
where enough other views agree with it, and replaced by the mean of the agreeing depths."""

from __future__ import annotations

import numpy as np


def consistency_filter(cameras, views, config=None):
    """Geometric consistency across views (``views``: :class:`facebench.prepare.mvs.ViewDepth` per
    camera): ``(depths list of (H,W) float32 NaN invalid, support list
    of (H,W) int16 agreeing views)``; kept depths are the mean of the agreeing views' depths."""
    from threadpoolctl import threadpool_limits

    from facebench.prepare.mvs import StereoConfig

    config = config or StereoConfig()
    with threadpool_limits(1, "blas"):  # many small products: BLAS threads only contend
        return _consistency_filter(cameras, views, config)


def _consistency_filter(cameras, views, config):
    out, support = [], []
    for i, cam in enumerate(cameras):
        d = views[i].depth.astype(np.float64)
        H, W = d.shape
        valid = np.isfinite(d)
        rows, cols = np.nonzero(valid)
        z = d[rows, cols]
        X = cam.cam_to_world(cam.unproject(np.stack([cols, rows], 1).astype(np.float64), z))
        acc_z, count = z.copy(), np.zeros(len(z), np.int16)
        for j, other in enumerate(cameras):
            if j == i:
                continue
            dj = views[j].depth
            uv, zj = other.project_world(X)
            px = np.rint(uv).astype(np.int64)
            inside = (zj > 0) & (px[:, 0] >= 0) & (px[:, 0] < other.width) & (px[:, 1] >= 0) & (
                px[:, 1] < other.height)
            sel = np.flatnonzero(inside)
            dd = dj[px[sel, 1], px[sel, 0]].astype(np.float64)
            good = np.isfinite(dd)
            sel, dd = sel[good], dd[good]
            Y = other.cam_to_world(other.unproject(px[sel].astype(np.float64), dd))
            back, zb = cam.project_world(Y)
            err = np.linalg.norm(back - np.stack([cols[sel], rows[sel]], 1), axis=1)
            agree = (err <= config.reproject_px) & (np.abs(zb - z[sel]) <= config.depth_rel * z[sel])
            acc_z[sel[agree]] += zb[agree]
            count[sel[agree]] += 1
        keep = count >= config.min_consistent
        fused = np.full((H, W), np.nan, np.float32)
        fused[rows[keep], cols[keep]] = (acc_z[keep] / (1 + count[keep])).astype(np.float32)
        sup = np.zeros((H, W), np.int16)
        sup[rows, cols] = count
        out.append(fused)
        support.append(sup)
    return out, support
