"""Error maps of one prediction of one clip, as the benchmark scores it (for the comparison report).

Depth is aligned per frame and canonical coordinates per clip exactly as
``evaluate`` does (the benchmark's alignment, fitted over the scored pixels);
errors are then shown on every pixel with valid GT, so the maps also show the
regions a benchmark does not score.  Region statistics pool a clip's pixels per
shard mask label (1 face, 2 other template region, 3 off-template).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

REGION_NAMES = {1: "face", 2: "other template region", 3: "off-template"}


@dataclass
class ClipErrors:
    """One method on one clip: maps at the shown frame, region means over the whole clip."""

    depth: np.ndarray | None = None            # (H,W) predicted depth at the frame, as submitted
    canonical: np.ndarray | None = None        # (H,W,3) predicted canonical at the frame, as submitted
    depth_err_mm: np.ndarray | None = None     # (H,W) |aligned depth - GT| mm, NaN where no GT
    canonical_err_mm: np.ndarray | None = None  # (H,W) |aligned canonical - GT| mm, NaN where no GT
    tracks_xy: np.ndarray | None = None        # (N,2) predicted positions at the frame
    tracks_visible: np.ndarray | None = None   # (N,) predicted visibility at the frame
    track_err_px: np.ndarray | None = None     # (N,) |pred - GT| px, NaN where GT not visible
    regions: dict = field(default_factory=dict)  # {task: {label: (sum_err_mm, n_pixels)}}
    note: str = ""                             # e.g. a degenerate alignment, or what is missing


def clip_errors(pred: dict, clip, bench, scale: float, t: int) -> ClipErrors:
    """Error maps of ``pred`` (SPEC §5 arrays of one clip) against the GT ``clip`` at frame ``t``."""
    from facebench.evaluate.scoring import scored_mask

    out = ClipErrors()
    notes = []
    if "depth" in pred:
        err, problem = _depth_error_mm(pred["depth"], clip, scored_mask(clip, "depth", bench.task("depth")),
                                       bench.task("depth").alignment or "none")
        out.depth, out.depth_err_mm = np.asarray(pred["depth"][t], np.float64), err[t]
        out.regions["depth"] = region_sums(err, clip.mask)
        notes += [problem] if problem else []
    if "canonical" in pred:
        spec = bench.task("canonical")
        err, problem = _canonical_error_mm(pred["canonical"], clip, scored_mask(clip, "canonical", spec),
                                           spec.alignment or "none", scale)
        out.canonical, out.canonical_err_mm = np.asarray(pred["canonical"][t], np.float64), err[t]
        out.regions["canonical"] = region_sums(err, clip.mask)
        notes += [problem] if problem else []
    if "tracks_xy" in pred:
        tr = clip.tracks
        out.tracks_xy = np.asarray(pred["tracks_xy"][:, t], np.float64)
        visible = pred.get("tracks_visible", np.ones(pred["tracks_xy"].shape[:2], bool))
        out.tracks_visible = np.asarray(visible[:, t], bool)
        shown = np.asarray(tr.visible[:, t], bool) & (np.asarray(tr.query_frame) <= t)
        err = np.linalg.norm(out.tracks_xy - np.asarray(tr.xy[:, t], np.float64), axis=-1)
        out.track_err_px = np.where(shown, err, np.nan)
    out.note = "; ".join(notes)
    return out


def _depth_error_mm(depth, clip, scored, mode):
    from facebench.metrics.align import align_depth, depth_alignment_problem

    gt = np.asarray(clip.depth, np.float64)
    pred = np.where(np.isfinite(depth), depth, np.nan).astype(np.float64)
    fit_on = scored & np.isfinite(pred)
    aligned, s, _ = align_depth(np.nan_to_num(pred), gt, fit_on, mode)
    problem = depth_alignment_problem(s, fit_on.sum(axis=(1, 2)), mode)
    err = 1000.0 * np.abs(aligned - gt)
    err[~(np.isfinite(gt) & np.isfinite(pred))] = np.nan
    return err, problem


def _canonical_error_mm(canonical, clip, scored, mode, scale):
    from facebench.metrics.canonical_align import fit_canonical_alignment

    gt = np.asarray(clip.canonical, np.float64)
    pred = np.asarray(canonical, np.float64)
    ok = np.isfinite(pred).all(axis=-1) & np.isfinite(gt).all(axis=-1)
    fit = fit_canonical_alignment(pred[scored & ok], gt[scored & ok], mode)
    diff = fit.apply(pred) - gt
    err = 1000.0 * float(scale) * np.sqrt(np.einsum("...k,...k->...", diff, diff))
    err[~ok] = np.nan
    return err, fit.problem


def region_sums(err: np.ndarray, mask: np.ndarray) -> dict[int, tuple[float, int]]:
    """{label: (sum of err, pixel count)} over finite ``err`` (T,H,W) per mask label 1..3."""
    ok = np.isfinite(err)
    out = {}
    for label in REGION_NAMES:
        sel = ok & (mask == label)
        n = int(sel.sum())
        if n:
            out[label] = (float(err[sel].sum()), n)
    return out


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= x (x > 0); 1 for anything else."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    base = 10.0 ** np.floor(np.log10(x))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * base >= x * (1 - 1e-12):
            return float(step * base)
    return float(10 * base)


def shared_range(maps, percentile: float = 95.0) -> float:
    """One colour-scale maximum for the error maps of every method on a clip.

    The median over methods of each method's ``percentile``-th error, rounded up by
    :func:`nice_ceiling`: one very bad method does not wash out the differences between
    the others (its larger errors saturate, and the colour bar says "+").
    """
    values = [m[np.isfinite(m)] for m in maps if m is not None]
    values = [v for v in values if v.size]
    if not values:
        return 1.0
    return nice_ceiling(float(np.median([np.percentile(v, percentile) for v in values])))
