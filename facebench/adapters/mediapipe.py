"""MediaPipe face detector and FaceMesh, converted to facebench's conventions.

This is the only module that knows MediaPipe exists (STYLE 14).  It needs the
optional extra ``facebench[landmarks]`` (``mediapipe==0.10.14``, whose wheel
ships the BlazeFace detector, FaceMesh and iris models: it runs offline on CPU;
later releases ship no models).

Conventions at the boundary: MediaPipe gives coordinates normalized by the image
width and height with the image's left/top edge at 0; facebench pixels have the
centre of the top-left pixel at (0, 0), so ``uv = normalized * (W, H) - 0.5``.

The 68 iBUG points are read from the dense mesh by a fixed table (below): each
iBUG point is one FaceMesh point or the mean of two.  The table's index values
are the widely used correspondence published by Peizhi Yan
(github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks), as used by flame-head-tracker.
Jaw-line points 0-16 are FaceMesh's cheek outline, which follows the 2D silhouette
rather than fixed skin points: fitting code should trust them less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebench.errors import InputError, require

EXTRA = "landmarks"
N_DENSE = 478  # 468 mesh points + 10 iris points (refine_landmarks=True)

# iBUG-68 point -> FaceMesh point(s), grouped as in the iBUG scheme (subject's right first).
_IBUG_FROM_MESH = {
    "jaw": [
        127,
        234,
        93,
        (132, 58),
        (58, 172),
        136,
        150,
        176,
        152,
        400,
        379,
        365,
        (397, 288),
        361,
        323,
        454,
        356,
    ],
    "right_brow": [70, 63, 105, 66, 107],
    "left_brow": [336, 296, 334, 293, 300],
    "nose": [(168, 6), (197, 195), 5, 4, 75, 97, 2, 326, 305],
    "right_eye": [33, 160, 158, 133, 153, 144],
    "left_eye": [362, 385, 387, 263, 373, 380],
    "outer_lip": [61, 39, 37, 0, 267, 269, 291, 321, 314, 17, 84, 91],
    "inner_lip": [78, 82, 13, 312, 308, 317, 14, 87],
}


def ibug68_pairs() -> np.ndarray:
    """(68, 2) int: the two FaceMesh indices averaged for each iBUG point (equal when one)."""
    pairs = []
    for group in _IBUG_FROM_MESH.values():
        for entry in group:
            a, b = entry if isinstance(entry, tuple) else (entry, entry)
            pairs.append((a, b))
    out = np.asarray(pairs, np.int64)
    assert out.shape == (68, 2)
    return out


def to_ibug68(dense) -> np.ndarray:
    """(..., 478|468, D) dense FaceMesh points -> (..., 68, D) iBUG-68 points (NaN stays NaN)."""
    dense = np.asarray(dense)
    pairs = ibug68_pairs()
    return 0.5 * (dense[..., pairs[:, 0], :] + dense[..., pairs[:, 1], :])


@dataclass
class Landmarks:
    """Per-frame landmarks of one image sequence (NaN rows where no face was found)."""

    ibug68: np.ndarray  # (T,68,2) float32 pixels (x, y)
    dense: np.ndarray  # (T,478,2) float32 pixels (x, y)
    score: np.ndarray  # (T,) float32: face-detector confidence, NaN when no face
    box: np.ndarray  # (T,4) float32 face box x0, y0, x1, y1 in pixels, NaN when none

    @property
    def found(self) -> np.ndarray:
        """(T,) bool: frames with landmarks."""
        return np.isfinite(self.ibug68).all(axis=(1, 2))


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise InputError(f"expected images (T,H,W,3) uint8, got {images.dtype} {images.shape}")
    return images


def _quiet():
    """MediaPipe logs through absl/glog on stderr; keep it to errors."""
    import os
    import warnings

    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)


def detect_faces(images, min_confidence: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Face boxes with MediaPipe's face detector (BlazeFace).

    images (T,H,W,3) uint8 -> (box (T,4) float32 x0, y0, x1, y1 pixels of the most confident
    face, NaN when none; score (T,) float32, NaN when none).  Tries the short-range model
    first, then the full-range one (small faces far from the camera).
    """
    _quiet()
    mp = require("mediapipe", EXTRA)
    images = _check_images(images)
    T, H, W, _ = images.shape
    box = np.full((T, 4), np.nan, np.float32)
    score = np.full(T, np.nan, np.float32)
    for model in (0, 1):
        todo = np.flatnonzero(~np.isfinite(score))
        if not todo.size:
            break
        with mp.solutions.face_detection.FaceDetection(
            min_detection_confidence=min_confidence, model_selection=model
        ) as detector:
            for t in todo:
                found = detector.process(np.ascontiguousarray(images[t])).detections
                if not found:
                    continue
                best = max(found, key=lambda d: d.score[0])
                r = best.location_data.relative_bounding_box
                box[t] = (
                    r.xmin * W - 0.5,
                    r.ymin * H - 0.5,
                    (r.xmin + r.width) * W - 0.5,
                    (r.ymin + r.height) * H - 0.5,
                )
                score[t] = best.score[0]
    return box, score


UPSCALE_BELOW = 320  # frames whose longer side is shorter are upscaled 2x for FaceMesh (small faces)


def _upscaled(images, factor: int):
    """(T,H,W,3) uint8 -> bicubic x``factor`` (PIL)."""
    from PIL import Image

    T, H, W, _ = images.shape
    return np.stack([np.asarray(Image.fromarray(im).resize((W * factor, H * factor), Image.BICUBIC))
                     for im in images])


def detect_landmarks_full(images, video: bool = True, min_confidence: float = 0.5) -> Landmarks:
    """Dense FaceMesh points, their iBUG-68 subset, a per-frame score and face box.

    ``video=True`` treats the frames as one sequence (FaceMesh tracks the face from
    frame to frame); ``False`` detects in every image alone.  The score is the face
    detector's confidence on that frame (FaceMesh itself reports none); a frame where
    FaceMesh finds no face has NaN landmarks whatever the detector says.
    """
    _quiet()
    mp = require("mediapipe", EXTRA)
    images = _check_images(images)
    T, H, W, _ = images.shape
    factor = 2 if max(H, W) < UPSCALE_BELOW else 1  # FaceMesh misplaces points on faces of ~100 px
    mesh_images = _upscaled(images, factor) if factor > 1 else images
    dense = np.full((T, N_DENSE, 2), np.nan, np.float32)
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=not video,
        max_num_faces=1,
        refine_landmarks=True,
        min_detection_confidence=min_confidence,
        min_tracking_confidence=min_confidence,
    ) as mesh:
        for t in range(T):
            faces = mesh.process(np.ascontiguousarray(mesh_images[t])).multi_face_landmarks
            if not faces:
                continue
            pts = np.array([(p.x, p.y) for p in faces[0].landmark], np.float64)
            dense[t, : len(pts)] = pts[:N_DENSE] * (W, H) - 0.5  # normalized: the same at any scale
    box, score = detect_faces(images, min_confidence)
    found = np.isfinite(dense).all(axis=(1, 2))
    score[~found] = np.nan
    return Landmarks(ibug68=to_ibug68(dense).astype(np.float32), dense=dense, score=score, box=box)


def detect_landmarks(images, video: bool = True):
    """images (T,H,W,3) uint8 -> (ibug68 (T,68,2) float32 pixels, NaN when no face;
    dense (T,478,2) float32 pixels; score (T,) float32, NaN when no face)."""
    lm = detect_landmarks_full(images, video=video)
    return lm.ibug68, lm.dense, lm.score


def segment_person(images, landscape: bool = False) -> np.ndarray:
    """Person probability per pixel with MediaPipe's selfie segmentation.

    images (T,H,W,3) uint8 -> (T,H,W) float32 in [0, 1] (1: person).  ``landscape`` picks the
    faster 144x256 model; the default general model (256x256) suits portrait crops.
    """
    _quiet()
    mp = require("mediapipe", EXTRA)
    images = _check_images(images)
    out = np.zeros(images.shape[:3], np.float32)
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=int(landscape)) as seg:
        for t in range(len(images)):
            mask = seg.process(np.ascontiguousarray(images[t])).segmentation_mask
            if mask is not None:
                out[t] = np.clip(np.asarray(mask, np.float32), 0, 1)
    return out


__all__ = [
    "EXTRA",
    "Landmarks",
    "detect_faces",
    "detect_landmarks",
    "detect_landmarks_full",
    "ibug68_pairs",
    "segment_person",
    "to_ibug68",
]
