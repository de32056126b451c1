"""The camera check: a capture's own 3D evidence projected into every view, before any fitting.

A misread camera convention (world-to-camera vs camera-to-world, millimetres vs metres,
intrinsics for another image size, a transposed rotation) gives ground truth that looks
plausible and is wrong.  So every ``prepare`` projects what the capture itself says is there
into each view and compares it with that view's own evidence (:mod:`camera_evidence` says
what each layout has; :mod:`camera_figures` and :mod:`camera_landmarks` measure):

================  ==========================================================================
``inside_mask``   share of projected points inside the view's mask (alpha, segmentation),
                  dilated by ``mask_tolerance`` of the image's long side; points behind the
                  camera or off the image count as outside (depth maps: also not in front
                  of the view's own depth).  Higher is better.
``photo_r``       correlation of the grey values (shading removed) that the surface points
                  visible in this view take here and in the best other view.  An absolute
                  limit where it is the only evidence (Multiface), and a relative test
                  everywhere (``gain``): no convention fix may raise it by more.
``landmark_px``   images-only captures: median distance between the view's detected
                  landmarks and the landmarks triangulated over views, projected back, in
                  pixels at 512 px long side; with ``eye_span_mm`` for the rig's scale.
================  ==========================================================================

and ``extent``, the share of the image's long side the projected points span (millimetres
read as metres shrink a head to a dot that can sit inside a mask).  A camera outside a limit
(``camera_check`` in the pipeline YAML; ``null`` switches a test off) fails the sequence
with one line that names the convention most likely wrong: :func:`diagnose` applies each of
:data:`FIXES` to every camera, then to the failing ones, and names the one that makes the
most cameras pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facebench.errors import InputError


@dataclass(frozen=True)
class CameraCheckConfig:
    """The ``camera_check`` section of the pipeline YAML."""

    frames: int = 3                     # frames checked per sequence, spread evenly
    max_points: int = 2000              # points per frame and source (mesh, cloud, depth map)
    mask_tolerance: float = 0.01        # masks dilated by this share of the image's long side
    depth_margin: float = 0.01          # metres: a point this far in front of a view's depth is wrong
    min_inside_fraction: float | None = 0.8
    min_photo_correlation: float | None = 0.45
    max_photo_gain: float | None = 0.2
    max_landmark_px: float | None = 10.0
    eye_span_mm: tuple | None = (40.0, 150.0)  # triangulated outer eye corners (iBUG 36, 45): the scale
    min_extent: float | None = 0.05


@dataclass(frozen=True)
class Figure:
    """One figure of a check: ``name`` (see the module table), ``limit`` (None: not tested) and
    whether a value above it passes."""

    name: str
    limit: float | None
    higher_is_better: bool = True
    upper: float | None = None  # a second, upper limit (a range)
    gain: float | None = None   # the relative test: fails when a fix of FIXES improves it by more

    def passes(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, float)
        if self.limit is None:
            return np.ones(value.shape, bool)
        with np.errstate(invalid="ignore"):  # NaN (nothing to compare) fails: a camera that sees none of it
            ok = value >= self.limit if self.higher_is_better else value <= self.limit
            return ok & (value <= self.upper) if self.upper is not None else ok

    def describe(self, v) -> str:
        if v is None or not np.isfinite(v):
            return "nothing to compare"
        unit = {"inside_mask": "%", "landmark_px": " px", "eye_span_mm": " mm"}.get(self.name, "")
        return f"{100 * v:.0f}%" if unit == "%" else f"{v:.2f}" if not unit else f"{v:.1f}{unit}"

    def rule(self) -> str:
        if self.upper is not None:
            return f"in {self.describe(self.limit)}..{self.describe(self.upper)}"
        return f"{'>=' if self.higher_is_better else '<='} {self.describe(self.limit)}"


def passes(figures, values: np.ndarray, extent: np.ndarray, min_extent: float | None) -> np.ndarray:
    """(C,) bool: every figure within its limit (``values`` (F,C)) and the points span enough."""
    ok = np.ones(np.shape(extent), bool)
    for figure, value in zip(figures, values):
        ok &= figure.passes(value)
    if min_extent is not None:
        with np.errstate(invalid="ignore"):
            ok &= np.asarray(extent, float) >= min_extent
    return ok


# -- the conventions a reader may have misread: each a camera -> camera fix -----------------------
def _with(camera, K=None, T=None):
    from facebench.geometry import Camera

    return Camera(camera.K if K is None else K, camera.T_cam_from_world if T is None else T,
                  camera.width, camera.height)


def _inverted(camera):
    return _with(camera, T=np.linalg.inv(camera.T_cam_from_world))


def _transposed(camera):
    T = camera.T_cam_from_world.copy()
    T[:3, :3] = T[:3, :3].T
    return _with(camera, T=T)


def _units(factor: float):
    def fix(camera):
        T = camera.T_cam_from_world.copy()
        T[:3, 3] *= factor
        return _with(camera, T=T)
    return fix


def _k_scaled(s: float):
    def fix(camera):
        K = camera.K.copy()
        K[:2] *= s
        K[:2, 2] += 0.5 * s - 0.5
        return _with(camera, K=K)
    return fix


#: (name, what a fix that works says is wrong, camera -> camera)
FIXES = [
    ("inverted", "world_2_cam and cam_2_world swapped (inverting the extrinsics fixes it)", _inverted),
    ("transposed", "a transposed rotation matrix (transposing R fixes it)", _transposed),
    ("mm_as_m", "units: translations in millimetres read as metres (t / 1000 fixes it)", _units(1e-3)),
    ("m_as_mm", "units: translations in metres read as millimetres (t * 1000 fixes it)", _units(1e3)),
] + [(f"K_x{s:g}", f"scaled intrinsics: K fits images {s:g}x the size read (K * {s:g} fixes it; state "
      "the size the calibration refers to with --native-size WxH)", _k_scaled(s))
     for s in (0.125, 0.25, 0.5, 2.0, 4.0, 8.0)]


@dataclass
class CameraReport:
    """The check of one sequence: per camera its figures (F,C), extent and flag; ``reason`` when it fails."""

    evidence: str
    figures: list
    names: list
    values: np.ndarray
    extent: np.ndarray
    ok: np.ndarray
    frame_ids: list = field(default_factory=list)
    reason: str = ""
    fix: str | None = None
    tolerated: bool = False  # failing cameras recorded as a warning (see camera_evidence.run_evidence)

    @property
    def flag(self) -> str:
        if bool(np.all(self.ok)):
            return "pass"
        return "warn" if self.tolerated else "fail"

    def to_dict(self) -> dict:
        """The JSON record kept in the sequence's QC (``qc["cameras"]``)."""
        def clean(v):
            return None if not np.isfinite(v) else round(float(v), 4)

        return {"check": self.evidence, "flag": self.flag, "frame_ids": [int(f) for f in self.frame_ids],
                "figures": {f.name: {"limit": f.limit, **({"upper": f.upper} if f.upper is not None else {}),
                                     **({"gain": f.gain} if f.gain is not None else {}),
                                     "values": {str(n): clean(v) for n, v in zip(self.names, row)}}
                            for f, row in zip(self.figures, self.values)},
                "extent": {str(n): clean(e) for n, e in zip(self.names, self.extent)},
                "failed": [str(n) for n, k in zip(self.names, self.ok) if not k],
                **({"reason": self.reason} if self.reason else {})}


class CameraCheckError(InputError):
    """A sequence whose cameras do not fit its own evidence."""


def native_fixes(native_size, image_size) -> list:
    """The fix that says a calibration's ``K`` refers to the images as stored (``image_size``), not
    to ``native_size`` as the reader assumed (both (W, H)): a ``K`` a user already rescaled, which
    the reader rescales again."""
    (W, H), (w, h) = native_size, image_size
    if (W, H) == (w, h):
        return []
    s = W / w
    return [(f"K_for_{w}x{h}", f"scaled intrinsics: K fits the {w}x{h} images read, not {W}x{H} images as "
             f"assumed (K * {s:.3g} fixes it; state it with --native-size {w}x{h})", _k_scaled(s))]


def run_check(check, cameras: list, names: list, evidence: str, figures: list, cfg: CameraCheckConfig,
              frame_ids=(), fixes=()) -> CameraReport:
    """Evaluate ``check(cameras) -> (values (F,C), extent (C,))`` and diagnose failing cameras;
    ``fixes``: more candidates than :data:`FIXES` (:func:`native_fixes`), tried first, or a
    function returning them (called only when they are needed)."""
    values, extent = check(cameras)
    values, extent = np.atleast_2d(np.asarray(values, float)), np.asarray(extent, float)
    ok = passes(figures, values, extent, cfg.min_extent)
    report = CameraReport(evidence, list(figures), list(names), values, extent, ok, list(frame_ids))
    if not ok.all() or any(f.gain is not None for f in figures):
        fixes = list(fixes() if callable(fixes) else fixes) + FIXES
    if not ok.all():
        diagnose(report, check, cameras, cfg, fixes)
    elif any(f.gain is not None for f in figures):
        compare_fixes(report, check, cameras, cfg, fixes)
    return report


def compare_fixes(report: CameraReport, check, cameras: list, cfg: CameraCheckConfig, fixes=FIXES) -> None:
    """The relative test: the calibration as read must explain the evidence at least as well as the
    same calibration with one of :data:`FIXES` applied to every camera.  A figure with a ``gain``
    fails the cameras it improves by more than that (the texture of a sparse or low-resolution rig
    agrees only loosely across views, but far better under the right convention than a wrong one).
    Only a fixed camera that passes every absolute test counts (a head shrunk to a dot agrees
    with itself)."""
    best = (0, None)
    for name, words, fix in fixes:
        values, extent = check([fix(c) for c in cameras])
        values = np.atleast_2d(np.asarray(values, float))
        sound = passes(report.figures, values, extent, cfg.min_extent)
        better = np.zeros(len(cameras), bool)
        for row, f in enumerate(report.figures):
            if f.gain is not None:
                with np.errstate(invalid="ignore"):
                    better |= (values[row] - report.values[row]) * (1 if f.higher_is_better else -1) > f.gain
        better &= sound
        if better.sum() > best[0]:
            best = (int(better.sum()), (name, words, values, better))
    if best[1] is None:
        return
    name, words, values, better = best[1]
    report.ok = report.ok & ~better
    report.fix = name
    rows = [(r, f) for r, f in enumerate(report.figures) if f.gain is not None]
    shown = "; ".join(f"{report.names[i]} {f.name} {f.describe(report.values[r, i])} -> "
                      f"{f.describe(values[r, i])}" for i in np.flatnonzero(better)[:3] for r, f in rows)
    report.reason = (f"camera check failed for {int(better.sum())} of {len(cameras)} cameras "
                     f"({report.evidence}): they agree far better with one convention changed ({shown}); "
                     f"most likely {words} for every camera")


def diagnose(report: CameraReport, check, cameras: list, cfg: CameraCheckConfig, fixes=FIXES) -> None:
    """Try each of :data:`FIXES` on every camera (a convention misread for all), then on the
    failing cameras only, and set ``report.reason``: the fix that makes the most cameras pass
    (most of the failing ones at least), or that none does.  A fix for every camera also fails the
    cameras that passed but whose relative figures (``gain``) it improves by more than allowed."""
    bad = np.flatnonzero(~report.ok)
    need = int(report.ok.sum()) + max(1, (len(bad) + 1) // 2)
    best = (need - 1, None, None, None)
    for scope in ("every", "failing"):  # on a tie, the convention misread for every camera
        for name, words, fix in fixes:
            trial = [fix(c) if scope == "every" or i in bad else c for i, c in enumerate(cameras)]
            values, extent = check(trial)
            values = np.atleast_2d(np.asarray(values, float))
            passed = int(passes(report.figures, values, extent, cfg.min_extent).sum())
            if passed > best[0]:
                best = (passed, (name, words), scope, values)
    if best[2] == "every":
        for row, f in enumerate(report.figures):
            if f.gain is not None:
                with np.errstate(invalid="ignore"):
                    gain = (best[3][row] - report.values[row]) * (1 if f.higher_is_better else -1)
                report.ok &= ~(gain > f.gain)
        bad = np.flatnonzero(~report.ok)
    shown = []
    for i in bad[:3]:
        parts = [f"{f.name} {f.describe(v)}" for f, v in zip(report.figures, report.values[:, i])
                 if not f.passes(v)] or [f"{f.name} {f.describe(v)}" for f, v in
                                         zip(report.figures, report.values[:, i]) if f.gain is not None]
        if cfg.min_extent is not None and not report.extent[i] >= cfg.min_extent:
            parts.append(f"spans {report.extent[i]:.1%} of the image")
        shown.append(f"{report.names[i]} {', '.join(parts)}")
    rules = ", ".join(f"{f.name} {f.rule()}" for f in report.figures if f.limit is not None)
    head = (f"camera check failed for {len(bad)} of {len(cameras)} cameras ({report.evidence}; {rules}): "
            + "; ".join(shown) + ("; ..." if len(bad) > 3 else ""))
    if best[1] is None:
        report.reason = (f"{head}; no single convention fix explains it: check that the calibration "
                         "belongs to these images (see them with `facebench inspect-cameras`)")
        return
    report.fix = best[1][0]
    scope = "every camera" if best[2] == "every" else ", ".join(str(report.names[i]) for i in bad[:3])
    report.reason = f"{head}; most likely {best[1][1]} for {scope}"


def checked_frames(n_frames: int, k: int) -> np.ndarray:
    """Indices of ``k`` frames spread evenly over ``n_frames`` (first and last included)."""
    return np.unique(np.linspace(0, n_frames - 1, max(1, min(k, n_frames))).round().astype(int))


def raise_if_failed(report: CameraReport, where: str) -> None:
    if report.flag == "fail":
        raise CameraCheckError(f"{where}: {report.reason}")
