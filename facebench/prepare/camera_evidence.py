"""What each capture layout can check its cameras against, and the check ``prepare`` runs.

=================================  ==========================================================
NeRSemble v1 (depth maps)          every view's depth map (inside its alpha) unprojected into
                                   the other views, against their alpha masks
NeRSemble benchmark (point clouds) the frame's point cloud against every alpha mask, and its
                                   texture across views
NeRSemble v2, images only          landmarks detected per view, triangulated over views
                                   (``facebench.prepare.landmarks``), against the detections
Ava-256 (segmentation)             the registered mesh against every segmentation mask, and its
                                   texture across views
Multiface (no masks)               the registered mesh's texture across views
=================================  ==========================================================

:func:`check_nersemble` and :func:`check_registered` are the hooks of ``prepare``: they run
on the views already read (before any fitting), raise
:class:`~facebench.prepare.camera_check.CameraCheckError` (one line, the likely cause) when a
camera fails and return the QC record otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebench.prepare.camera_check import (
    CameraCheckConfig,
    Figure,
    checked_frames,
    native_fixes,
    raise_if_failed,
    run_check,
)
from facebench.prepare.camera_figures import Both, DepthCheck, MaskCheck, PhotoCheck, subsample
from facebench.prepare.camera_landmarks import LandmarkCheck

EVIDENCE = {
    "depth": "depth maps of the other views vs each view's alpha mask and depth",
    "pointcloud": "the capture's point cloud vs each view's alpha mask and the other views' texture",
    "mesh_mask": "the registered mesh vs each view's segmentation mask and the other views' texture",
    "mesh_photo": "the registered mesh's texture across views",
    "landmarks": "landmarks triangulated over views vs each view's detections",
}


@dataclass
class Evidence:
    """A built check: ``check(cameras) -> (values (F,C), extent (C,))``, its figures, the checked
    frame ids and their indices into the sequence's frames."""

    kind: str
    check: object
    figures: list
    frame_ids: list
    checked: np.ndarray
    cameras: np.ndarray | None = None  # indices of the cameras checked (None: all)

    @property
    def words(self) -> str:
        return EVIDENCE[self.kind]


def figures_for(kind: str, cfg: CameraCheckConfig) -> list:
    """The figures of a kind of evidence.  With masks the texture figure is relative only
    (``max_photo_gain``): see :func:`facebench.prepare.camera_check.compare_fixes`."""
    inside = Figure("inside_mask", cfg.min_inside_fraction)
    span = cfg.eye_span_mm or (None, None)
    return {"landmarks": [Figure("landmark_px", cfg.max_landmark_px, higher_is_better=False),
                          Figure("eye_span_mm", span[0], upper=span[1])],
            "mesh_photo": [Figure("photo_r", cfg.min_photo_correlation, gain=cfg.max_photo_gain)],
            "depth": [inside]}.get(kind, [inside, Figure("photo_r", None, gain=cfg.max_photo_gain)])


def _masks(alphas, idx, threshold: float) -> list:
    return [[np.asarray(a[k]) >= threshold for k in idx] for a in alphas]


def nersemble_evidence(capture, participant, sequence, frame_ids, views, cfg: CameraCheckConfig,
                       alpha_threshold: float = 0.5, landmarks=None) -> Evidence | str:
    """The evidence of a NeRSemble sequence (``views``: ``facebench.prepare.sequence.Views``), or
    a sentence saying why there is none to check against."""
    idx = checked_frames(len(frame_ids), cfg.frames)
    ids = [int(frame_ids[k]) for k in idx]
    masks = None if views.silhouettes else _masks(views.alphas, idx, alpha_threshold)
    if masks is not None and len(views.cameras) >= 2 and all(d is not None for d in views.depths):
        check = DepthCheck([[d[k] for k in idx] for d in views.depths], masks, cfg.mask_tolerance,
                           cfg.max_points, cfg.depth_margin)
        return Evidence("depth", check, figures_for("depth", cfg), ids, idx)
    clouds = [capture.read_pointcloud(participant, sequence, f) for f in ids] if masks is not None else [None]
    if all(c is not None for c in clouds):
        points = [subsample(np.asarray(c[0], np.float64), cfg.max_points) for c in clouds]
        normals = None if any(c[1] is None for c in clouds) else \
            [subsample(np.asarray(c[1], np.float64), cfg.max_points) for c in clouds]
        images = [[im[k] for k in idx] for im in views.images]
        photo = PhotoCheck(points, None, images, cfg.max_points, normals)
        return Evidence("pointcloud", Both(MaskCheck(points, masks, cfg.mask_tolerance), photo),
                        figures_for("pointcloud", cfg), ids, idx)
    if len(views.cameras) < 2:
        return "images only with one camera: nothing to triangulate"
    if landmarks is None:
        try:
            from facebench.prepare.landmarks import detect_multiview
        except ImportError:
            return "images only: landmark triangulation (facebench.prepare.landmarks) is not available"
        xy = np.asarray(detect_multiview([im[idx] for im in views.images], views.cameras).xy)
    else:
        xy = np.asarray(landmarks.xy)[:, idx]
    return landmark_evidence(xy, ids, idx, cfg)


def landmark_evidence(xy, frame_ids, idx, cfg: CameraCheckConfig) -> Evidence | str:
    """Detected landmarks ``xy`` (C,K,L,2) at the checked frames ``frame_ids`` (indices ``idx``).
    A camera with no detection there is left unchecked (recorded as such); with fewer than two
    cameras left there is nothing to triangulate (a sentence saying so)."""
    xy = np.asarray(xy, np.float64)
    used = np.flatnonzero(np.isfinite(xy).all(axis=-1).any(axis=(1, 2)))
    if len(used) < 2:
        return (f"images only: a face detected in {len(used)} view(s) at the checked frames, too few to "
                "triangulate")
    check = LandmarkCheck(xy[used], cfg.max_landmark_px or 10.0)
    return Evidence("landmarks", check, figures_for("landmarks", cfg), [int(f) for f in frame_ids], idx,
                    None if len(used) == len(xy) else used)


def check_landmarks(landmarks, cameras, names, cfg: CameraCheckConfig, frame_ids=None,
                    where: str = "") -> dict:
    """The images-only check on a ``MultiViewLandmarks`` (``facebench.prepare.landmarks``; only its
    ``xy`` (C,T,68,2) detections, NaN where none, are used) and the cameras they were detected in:
    the QC record, or :class:`CameraCheckError`.  The landmarks are triangulated here again for
    every convention fix tried, so the figure never depends on the cameras being right."""
    xy = np.asarray(landmarks.xy, np.float64)
    idx = checked_frames(xy.shape[1], cfg.frames)
    ids = idx if frame_ids is None else np.asarray(frame_ids)[idx]
    evidence = landmark_evidence(xy[:, idx], ids, idx, cfg)
    return run_evidence(evidence, cameras, names, cfg, where or "landmarks")


def registered_evidence(capture, pid, seq, frame_ids, views, vertices, faces, cfg: CameraCheckConfig,
                        alpha_threshold: float = 0.5) -> Evidence:
    """The evidence of a registered-mesh sequence: ``vertices`` (T,V,3) world metres per frame."""
    idx = checked_frames(len(frame_ids), cfg.frames)
    ids = [int(frame_ids[k]) for k in idx]
    images = [[im[k] for k in idx] for im in views.images]
    photo = PhotoCheck([vertices[k] for k in idx], np.asarray(faces), images, cfg.max_points)
    if all(capture.has_masks(pid, seq, name) for name in views.serials):
        points = [subsample(np.asarray(vertices[k], np.float64), cfg.max_points) for k in idx]
        mask = MaskCheck(points, _masks(views.alphas, idx, alpha_threshold), cfg.mask_tolerance)
        return Evidence("mesh_mask", Both(mask, photo), figures_for("mesh_mask", cfg), ids, idx)
    return Evidence("mesh_photo", photo, figures_for("mesh_photo", cfg), ids, idx)


def run_evidence(evidence: Evidence | str, cameras, names, cfg: CameraCheckConfig, where: str,
                 sizes=None) -> dict:
    """Run the check; the QC record (``qc["cameras"]``), or CameraCheckError when a camera fails.
    ``sizes()``: (the size the intrinsics were taken for, the size read), both (W, H) or None, so
    that a calibration rescaled twice is named exactly."""
    if isinstance(evidence, str):
        return {"check": evidence, "flag": "not checked"}

    def fixes():
        native, read = sizes() if sizes is not None else (None, None)
        return native_fixes(native, read) if native and read else []

    cameras, names = list(cameras), list(names)
    skipped = []
    if evidence.cameras is not None:
        skipped = [str(n) for i, n in enumerate(names) if i not in set(evidence.cameras.tolist())]
        cameras, names = [cameras[i] for i in evidence.cameras], [names[i] for i in evidence.cameras]
    report = run_check(evidence.check, cameras, names, evidence.words, evidence.figures, cfg,
                       evidence.frame_ids, fixes)
    if evidence.kind == "landmarks" and report.fix is None and (~report.ok).sum() * 2 < len(names):
        # detected landmarks can be wrong where a face is small, turned away or seen from below: a
        # minority of views that no convention fix explains is a detector's failure as likely as a
        # calibration's, so it is recorded (flag warn, reason, failed views) instead of failing
        report.tolerated = True
        report.reason = report.reason.replace("camera check failed", "camera check warns", 1)
    raise_if_failed(report, where)
    return {**report.to_dict(), **({"unchecked": skipped} if skipped else {})}


def check_nersemble(capture, participant, sequence, frame_ids, views, cfg, landmarks=None) -> dict:
    """``prepare nersemble``'s hook (``cfg``: the PipelineConfig); see the module docstring."""
    check_cfg = cfg.camera_check
    evidence = nersemble_evidence(capture, participant, sequence, frame_ids, views, check_cfg,
                                  cfg.fusion.alpha_threshold, landmarks)

    def sizes():
        params = capture.camera_params(participant)
        view = capture.read_view(participant, sequence, int(frame_ids[0]), views.serials[0])
        return (params.width, params.height), (view.image.shape[1], view.image.shape[0])

    return run_evidence(evidence, views.cameras, views.serials, check_cfg, f"{participant}/{sequence}", sizes)


def check_registered(capture, pid, seq, frame_ids, views, vertices, faces, cfg) -> dict:
    """``prepare multiface`` / ``ava256``'s hook (``cfg``: the PipelineConfig)."""
    evidence = registered_evidence(capture, pid, seq, frame_ids, views, vertices, faces, cfg.camera_check,
                                   cfg.fusion.alpha_threshold)

    def sizes():
        read = capture.camera(pid, seq, views.serials[0])  # at the stored image size
        return getattr(capture, "native_size", None), (read.width, read.height)

    return run_evidence(evidence, views.cameras, views.serials, cfg.camera_check, f"{pid}/{seq}", sizes)
