"""Canonical alignment before scoring (SPEC §6): ``none``, ``similarity`` or ``affine``.

A model trained in another canonical space (another template, another
normalisation) is right up to a transform of that space.  When a benchmark
task says so, the transform from predicted to GT canonical coordinates is
fitted per clip by least squares over the scored pixels and applied before
the errors are measured:

* ``similarity``: c' = s R c + t (7 parameters), closed form (Umeyama 1991);
* ``affine``: c' = A c + t (12 parameters), linear least squares.

A fit is *degenerate* when it cannot be trusted: fewer than
``MIN_ALIGN_PIXELS`` scored pixels, a rank-deficient predicted point set (the
transform is not determined), a non-positive scale (a collapse, or a mirror
for ``affine``) or a scale outside ``SCALE_RANGE``.  The fit then says why in
``CanonicalFit.problem``; the evaluator scores that clip unaligned and flags it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CANONICAL_ALIGNMENTS = ("none", "similarity", "affine")
MIN_ALIGN_PIXELS = 10          # scored pixels a clip needs before a transform is fitted
SCALE_RANGE = (0.01, 100.0)    # accepted fitted scale (affine: cube root of det A)
RANK_TOL = 1e-6                # singular values below this x the largest count as zero


@dataclass(frozen=True)
class CanonicalFit:
    """A fitted transform ``c_aligned = c_pred @ matrix.T + offset`` and its diagnosis.

    ``scale`` is s for a similarity, cbrt(det A) for an affine fit, 1 for ``none``;
    ``problem`` is None for a usable fit, else one line saying why it is degenerate.
    """

    mode: str
    matrix: np.ndarray       # (3,3)
    offset: np.ndarray       # (3,)
    scale: float
    n_pixels: int
    problem: str | None = None

    def apply(self, canonical) -> np.ndarray:
        """(...,3) predicted canonical -> (...,3) aligned, float64."""
        values = np.asarray(canonical, np.float64)
        if not self.offset.any() and np.array_equal(self.matrix, np.eye(3)):
            return values  # the identity: exactly what the product gives, without a (slow) matmul
        return values @ self.matrix.T + self.offset


def identity_fit(mode: str = "none", n_pixels: int = 0, problem: str | None = None) -> CanonicalFit:
    return CanonicalFit(mode, np.eye(3), np.zeros(3), 1.0, int(n_pixels), problem)


def fit_canonical_alignment(pred, gt, mode: str = "none") -> CanonicalFit:
    """Least-squares transform from predicted to GT canonical coordinates.

    Args:
        pred: (M,3) predicted canonical coordinates at the scored pixels (finite).
        gt: (M,3) GT canonical coordinates at the same pixels.
        mode: ``none`` | ``similarity`` | ``affine``.
    Returns:
        a :class:`CanonicalFit`; for ``none`` the identity, never degenerate.
    """
    if mode not in CANONICAL_ALIGNMENTS:
        raise ValueError(f"unknown canonical alignment {mode!r}; expected one of {CANONICAL_ALIGNMENTS}")
    if mode == "none":  # before the float64 copies: they cost more than the rest of a clip's fit
        return identity_fit(mode, int(np.size(pred)) // 3)
    p = np.asarray(pred, np.float64).reshape(-1, 3)
    g = np.asarray(gt, np.float64).reshape(-1, 3)
    n = len(p)
    if n < MIN_ALIGN_PIXELS:
        return identity_fit(mode, n, f"{mode} alignment: {n} scored pixels (< {MIN_ALIGN_PIXELS})")
    p_mean, g_mean = p.mean(axis=0), g.mean(axis=0)
    pc, gc = p - p_mean, g - g_mean
    spread = np.linalg.svd(pc, compute_uv=False)
    need = 2 if mode == "similarity" else 3       # a plane fixes a rotation, not an affine map
    rank = int((spread > RANK_TOL * max(spread[0], 1e-300)).sum()) if spread[0] > 0 else 0
    if rank < need:
        return identity_fit(mode, n, f"{mode} alignment: predicted canonical points have rank {rank} "
                                     f"(< {need}), the fit is rank-deficient")
    if mode == "similarity":
        matrix, scale = _umeyama(pc, gc)
    else:
        sol, *_ = np.linalg.lstsq(pc, gc, rcond=None)
        matrix = sol.T
        det = float(np.linalg.det(matrix))
        scale = float(np.cbrt(det))
    offset = g_mean - matrix @ p_mean
    problem = _scale_problem(mode, scale)
    if problem is not None:
        return identity_fit(mode, n, problem)
    return CanonicalFit(mode, matrix, offset, scale, n)


def _umeyama(pc: np.ndarray, gc: np.ndarray) -> tuple[np.ndarray, float]:
    """(s R (3,3), s) minimising sum |gc - s R pc|^2 over rotations R (det +1) and s."""
    sigma = gc.T @ pc / len(pc)
    u, d, vt = np.linalg.svd(sigma)
    signs = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        signs[2] = -1.0
    rotation = (u * signs) @ vt
    var_p = float((pc * pc).sum() / len(pc))
    scale = float((d * signs).sum() / var_p)
    return scale * rotation, scale


def _scale_problem(mode: str, scale: float) -> str | None:
    lo, hi = SCALE_RANGE
    if not np.isfinite(scale) or scale <= 1e-9:       # numerically zero counts as zero
        what = "a mirror or collapse" if mode == "affine" else "a collapse"
        return f"{mode} alignment: non-positive scale {scale:.3g} ({what})"
    if not lo <= scale <= hi:
        return f"{mode} alignment: extreme scale {scale:.3g} (outside [{lo:g}, {hi:g}])"
    return None


def align_canonical(pred, gt, valid, mode: str = "none") -> tuple[np.ndarray, CanonicalFit]:
    """Fit one transform per clip over the scored pixels and apply it to the whole map.

    Args:
        pred: (T,H,W,3) predicted canonical; gt: (T,H,W,3) GT canonical;
        valid: (T,H,W) bool pixels scored (pred and GT finite there).
    Returns:
        (aligned (T,H,W,3) float64, fit).  A degenerate fit leaves ``pred`` unaligned.
    """
    valid = np.asarray(valid, bool)
    fit = fit_canonical_alignment(np.asarray(pred)[valid], np.asarray(gt)[valid], mode)
    aligned = fit.apply(pred) if fit.problem is None else np.asarray(pred, np.float64)
    return aligned, fit
