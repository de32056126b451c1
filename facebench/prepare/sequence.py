"""Ground truth of one (participant, sequence): read, fuse, fit, map, track.

:func:`prepare_sequence` is the unit of work that ``prepare`` distributes; it
reads only from the capture and returns an in-memory
:class:`facebench.io.shards.Sequence` (no file is written here), so it runs
unchanged in any worker process.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np

from facebench.errors import InputError
from facebench.prepare.config import PipelineConfig
from facebench.prepare.fit import fit_sequence
from facebench.prepare.pointcloud import cloud_from_points, fuse_views


@dataclass
class Views:
    """Every camera's frames of one sequence at the stored resolution."""

    serials: list
    cameras: list  # geometry.Camera per serial, at the stored resolution
    images: list  # per camera (T,H,W,3) uint8
    alphas: list  # per camera (T,H,W) float32 in [0,1]
    depths: list  # per camera (T,H,W) float32 metres NaN invalid, or None (no depth maps)
    masks_from: str = "alpha"  # alpha (the capture's alpha maps) | background | segmentation (v2)
    stereo: bool = False  # depths come from facebench's multi-view stereo (noisy, with holes)

    @property
    def silhouettes(self) -> bool:
        """True when the masks were computed here (images-only captures), not read."""
        return self.masks_from in ("background", "segmentation")


def target_size(width: int, height: int, resolution: int | None) -> tuple[int, int]:
    """(width, height) with the long side ``resolution`` (aspect kept), or unchanged when None."""
    if not resolution:
        return width, height
    s = resolution / max(width, height)
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


def _resize(array: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize (H,W) float or (H,W,3) uint8 to ``size`` = (width, height) with PIL's pixel-centre rule."""
    from PIL import Image

    if (array.shape[1], array.shape[0]) == size:
        return array
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR  # antialiased
    if array.ndim == 3:
        return np.asarray(Image.fromarray(np.asarray(array, np.uint8)).resize(size, resample))
    img = Image.fromarray(np.asarray(array, np.float32), mode="F")
    return np.asarray(img.resize(size, resample), dtype=np.float32)


def read_views(capture, participant: str, sequence: str, serials, frame_ids, resolution=None,
               masks=None) -> Views:
    """Read (and resize) images, alpha maps and depth maps of every camera and frame.

    Without alpha maps (v2), the masks come from :func:`facebench.prepare.masks.foreground_masks`
    (``masks``: its :class:`~facebench.prepare.masks.MaskConfig`) against the camera's BACKGROUND
    image at the stored resolution, or from person segmentation alone when there is none.
    """
    from facebench.prepare.masks import MaskConfig, foreground_masks

    cams, images, alphas, depths = [], [], [], []
    masks_from = "alpha"
    for serial in serials:
        frames = list(capture.iter_views(participant, sequence, serial, frame_ids))
        first = frames[0]
        h, w = first.image.shape[:2]
        size = target_size(w, h, resolution)
        cam = first.camera
        cams.append(cam if size == (w, h) else cam.rescaled(*size))
        images.append(np.stack([_resize(f.image, size) for f in frames]))
        if first.alpha is None:  # v2: no alpha maps; against the BACKGROUND image
            plate = _background(capture, participant, sequence, serial, size)
            alphas.append(foreground_masks(images[-1], plate, masks or MaskConfig()))
            masks_from = "segmentation" if plate is None and masks_from == "alpha" else (
                "background" if plate is not None else masks_from)
        else:
            alphas.append(np.stack([_resize(_alpha(f), size) for f in frames]))
        if first.depth is not None:
            depths.append(np.stack([_resize(f.depth.astype(np.float32), size, nearest=True) for f in frames]))
        else:
            depths.append(None)
    return Views(list(serials), cams, images, alphas, depths, masks_from)


def _alpha(view) -> np.ndarray:
    a = np.asarray(view.alpha, dtype=np.float32)
    return a / 255.0 if a.max() > 1.0 else a


def _background(capture, participant, sequence, serial, size):
    """The camera's BACKGROUND image, colour-corrected like the frames, at ``size``; None if absent."""
    from facebench.nersemble.calibration import apply_color_correction

    bg = capture.background(participant, serial)
    if bg is None:
        return None
    affine = capture._color_affine(participant, sequence, serial)
    if affine is not None:
        bg = apply_color_correction(bg, affine)
    return _resize(bg, size)


def frame_clouds(capture, participant, sequence, frame_ids, views: Views, cfg: PipelineConfig,
                 source: str = "maps", centers=None) -> list:
    """One cleaned world cloud per frame from ``source`` (:mod:`facebench.prepare.depth_source`):
    fused depth maps (the capture's, or multi-view stereo's already in ``views.depths``), the
    capture's point cloud, or the masks' visual hull (around ``centers`` (T,3) when given)."""
    clouds = []
    rig = np.array([c.center_world for c in views.cameras])
    for t, fid in enumerate(frame_ids):
        if source in ("maps", "mvs"):
            cloud = fuse_views(views.cameras, [None if d is None else d[t] for d in views.depths],
                               [a[t] for a in views.alphas], cfg.fusion)
        elif source == "pointcloud":
            read = capture.read_pointcloud(participant, sequence, int(fid))
            if read is None:
                raise InputError(f"{participant}/{sequence} frame {fid}: point cloud missing", capture.root)
            cloud = cloud_from_points(read[0], read[1], rig, cfg.fusion)
        else:
            from facebench.prepare.hull import visual_hull_cloud

            center = None if centers is None or not np.isfinite(centers[t]).all() else centers[t]
            cloud = visual_hull_cloud(views.cameras, [a[t] for a in views.alphas], center=center,
                                      extent=cfg.fusion.hull_extent, voxel=cfg.fusion.hull_voxel,
                                      alpha_threshold=cfg.fusion.alpha_threshold)
        if len(cloud) < 100:
            raise InputError(f"{participant}/{sequence} frame {fid}: only {len(cloud)} points from the "
                             f"{source} depth source; check the images, masks and calibration")
        clouds.append(cloud)
    return clouds


def tracking_init(capture, participant, sequence, frame_ids, template) -> dict | None:
    """Fit initialisation from the capture's tracking file (rows matched by frame id), or None."""
    track = capture.tracking(participant, sequence)
    if track is None:
        return None
    rows = {int(f): i for i, f in enumerate(np.asarray(track["frames"]).reshape(-1))}
    missing = [int(f) for f in frame_ids if int(f) not in rows]
    if missing:
        return None
    sel = np.array([rows[int(f)] for f in frame_ids])
    from facebench.prepare.rigid import matrix_to_axis_angle

    def coeffs(key, n):
        a = np.asarray(track[key], np.float64).reshape(len(track[key]), -1)
        out = np.zeros((a.shape[0], n))
        out[:, : min(n, a.shape[1])] = a[:, :n]
        return out

    return {
        "identity": coeffs("shape", template.n_identity)[0],
        "expression": coeffs("expression", template.n_expression)[sel],
        "jaw": np.asarray(track["jaw"], np.float64)[sel],
        "neck": np.asarray(track["neck"], np.float64)[sel],
        "eyes": np.asarray(track["eyes"], np.float64).reshape(-1, 6)[sel],
        "rotation": matrix_to_axis_angle(np.asarray(track["rotation_matrices"], np.float64)[sel]),
        "translation": np.asarray(track["translation"], np.float64)[sel],
        "scale": np.asarray(track["scale"], np.float64).reshape(-1)[:1],
    }


def clip_seed(seed: int, participant: str, sequence: str, serial: str) -> int:
    """A per-clip seed that depends only on names (never on scheduling order)."""
    return (int(seed) * 1_000_003 + zlib.crc32(f"{participant}/{sequence}/{serial}".encode())) % (2**32)


def build_clips(template, vertices, views: Views, participant, sequence, cfg: PipelineConfig):
    """Per camera: GT depth, canonical, mask per frame and the clip's tracks."""
    from facebench import gtmaps
    from facebench.geometry.cache import cached_raycaster
    from facebench.io.shards import Clip

    T = len(vertices)
    fgs, maps = [], []
    for i in range(len(views.serials)):
        fgs.append(views.alphas[i] >= cfg.fusion.alpha_threshold)
        maps.append((np.empty((T,) + fgs[i].shape[1:], np.float32),
                     np.empty((T,) + fgs[i].shape[1:] + (3,), np.float32),
                     np.empty((T,) + fgs[i].shape[1:], np.uint8)))
    for t in range(T):  # frame-major: one frame's mesh structures serve every camera
        for i, cam in enumerate(views.cameras):
            obs = views.depths[i]
            if obs is None:  # no depth maps (benchmark layout): the fitted surface stands in for them
                obs_t = cached_raycaster(vertices[t], template.faces).render(cam).depth
            elif views.stereo:  # the fitted surface; stereo where it sees something in front of it
                r = cached_raycaster(vertices[t], template.faces).render(cam)  # or off the template
                with np.errstate(invalid="ignore"):
                    other = np.isfinite(obs[t]) & (~r.hit | (obs[t] < r.depth - cfg.stereo_agree))
                obs_t = np.where(other, obs[t], r.depth)
            else:
                obs_t = obs[t]
            depth, canonical, mask = maps[i]
            depth[t], canonical[t], mask[t] = gtmaps.view_maps(template, vertices[t], cam, obs_t, fgs[i][t],
                                                               max_offset=cfg.max_offset)
    clips = []
    for i, serial in enumerate(views.serials):
        cam, fg = views.cameras[i], fgs[i]
        depth, canonical, mask = maps[i]
        tracks = gtmaps.tracks(template, vertices, cam, depth, fg, n_tracks=cfg.n_tracks,
                               seed=clip_seed(cfg.seed, participant, sequence, serial),
                               depth_tol=cfg.visibility_margin)
        clips.append(Clip(serial=serial, image=views.images[i], mask=mask, depth=depth, canonical=canonical,
                          K=np.asarray(cam.K), T_cam_from_world=np.asarray(cam.T_cam_from_world),
                          tracks=tracks))
    return clips


STAGES = ("read", "landmarks", "stereo", "fuse", "fit", "maps")


def detect_landmarks(views: Views, cfg: PipelineConfig):
    """Triangulated FaceMesh landmarks of the sequence (:mod:`facebench.prepare.landmarks`), or None
    when switched off, or (``detect: auto``) when MediaPipe is not installed."""
    mode = str(cfg.landmarks.get("detect", "auto"))
    if mode in ("off", "false", "False"):
        return None
    if mode == "auto":
        import importlib.util

        if importlib.util.find_spec("mediapipe") is None:
            return None
    from facebench.prepare.landmarks import detect_multiview

    return detect_multiview(views.images, views.cameras, inlier_px=float(cfg.landmarks.get("inlier_px", 8.0)))


def prepare_sequence(capture, participant: str, sequence: str, serials, frame_ids, template,
                     cfg: PipelineConfig, resolution: int | None = None, progress=None):
    """GT of one sequence: ``(facebench.io.shards.Sequence, stats dict)``.

    ``progress``: optional ``callback(stage_done, next_stage)`` called after each of :data:`STAGES`.
    """
    from facebench.io.shards import Sequence
    from facebench.prepare import depth_source
    from facebench.prepare.hull import rig_center
    from facebench.prepare.landmarks import fitted_landmark_px, landmark_pose

    clock = _Clock(progress)
    frame_ids = np.asarray(frame_ids, dtype=np.int32)
    views = read_views(capture, participant, sequence, serials, frame_ids, resolution, cfg.masks)
    clock.lap("read")
    lms = detect_landmarks(views, cfg)
    centers = lms.center_world() if lms is not None else np.full((len(frame_ids), 3), np.nan)
    centers[~np.isfinite(centers).all(1)] = rig_center(views.cameras)
    from facebench.prepare.camera_evidence import check_nersemble

    camera_qc = check_nersemble(capture, participant, sequence, frame_ids, views, cfg, lms)  # before any fit
    clock.lap("landmarks")
    source = depth_source.choose_source(cfg.depth, capture, participant, sequence, frame_ids, views)
    stereo = None
    if source == "mvs":
        stereo = depth_source.stereo_depths(views, centers, cfg.stereo)
        views.depths, views.stereo = stereo["depths"], True
    clock.lap("stereo")
    clouds = frame_clouds(capture, participant, sequence, frame_ids, views, cfg, source, centers)
    init = tracking_init(capture, participant, sequence, frame_ids, template)
    init_from = "tracking" if init is not None else "pointcloud"
    # a template without a landmark embedding (FLAME without its .npz) cannot use the landmarks
    fit_lms = lms if template.landmarks is not None else None
    # with depth maps or a point cloud the multi-start fit to the cloud starts better than the
    # landmarks (FaceMesh's points sit 2-4 mm from the template's); without them they start the fit
    if init is None and fit_lms is not None and source in ("mvs", "hull"):
        init = landmark_pose(template, lms)
        init_from = "landmarks" if init is not None else init_from
    clock.lap("fuse")
    fit_cfg = cfg.fit_with_stereo if source == "mvs" and cfg.fit_with_stereo is not None else cfg.fit
    fit = fit_sequence(template, clouds, views.cameras, views.serials, init, fit_cfg,
                       views=(views.images, views.depths),
                       landmarks=None if fit_lms is None else fit_lms.xyz_world)
    if fit_lms is not None:
        fit.stats["landmark_px"] = fitted_landmark_px(template, fit.vertices, views.cameras, lms)
    if stereo is not None:
        fit.stats["stereo_coverage"] = depth_source.stereo_coverage(stereo, views)
    clock.lap("fit")
    clips = build_clips(template, fit.vertices, views, participant, sequence, cfg)
    clock.lap("maps")
    from facebench.prepare.qc import sequence_qc

    thresholds = cfg.qc
    if source == "mvs" and cfg.qc_with_stereo:  # stereo depth is noisier: its own residual limits
        thresholds = {**(cfg.qc or {}), **cfg.qc_with_stereo}
    quality = sequence_qc(template, fit, clouds, clips, frame_ids, thresholds)
    quality["cameras"] = camera_qc
    residual = float(np.nanmedian(fit.residual_mm)) if np.isfinite(fit.residual_mm).any() else float("nan")
    attrs = {"template": template.name, "fit_residual_mm": residual,
             "fit_matched_fraction": float(np.mean(fit.matched)),
             "fit_init": init_from, "depth_source": source, "masks_from": views.masks_from,
             "cloud_points_mean": float(np.mean([len(c) for c in clouds])),
             "qc": quality, "qc_flag": quality["flag"]}
    if stereo is not None:
        attrs["stereo"] = depth_source.stereo_summary(stereo, views)
    if lms is not None:
        attrs["landmarks"] = landmark_summary(lms, views.serials)
    seq = Sequence(participant=participant, sequence=sequence, frame_ids=frame_ids,
                   vertices=fit.vertices.astype(np.float32), clips=clips, attrs=attrs)
    stats = {"participant": participant, "sequence": sequence, "frames": len(frame_ids),
             "clips": len(clips), "views": len(clips) * len(frame_ids), "fit_residual_mm": residual,
             "seconds": clock.wall, "cpu_seconds": clock.cpu, "qc": quality["frames"]}
    return seq, stats


def landmark_summary(lms, serials) -> dict:
    """Per camera: frames with a face, frames agreeing with the consensus, median reprojection (px@512)."""
    err = lms.reprojection_px512
    found = np.isfinite(lms.xy).all(axis=(2, 3))
    return {s: {"found": int(found[i].sum()), "inlier": int(lms.inlier[i].sum()),
                "reprojection_px512": None if not np.isfinite(err[i]).any()
                else round(float(np.nanmedian(err[i])), 3)} for i, s in enumerate(serials)}


class _Clock:
    """Wall and CPU (this process) seconds per stage: CPU time stays meaningful on a busy machine."""

    def __init__(self, progress=None):
        self.wall, self.cpu = {}, {}
        self.progress = progress
        self._w, self._c = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        w, c = time.perf_counter(), time.process_time()
        self.wall[name], self.cpu[name] = w - self._w, c - self._c
        self._w, self._c = w, c
        if self.progress is not None:
            i = STAGES.index(name)
            self.progress(name, STAGES[i + 1] if i + 1 < len(STAGES) else "write")
