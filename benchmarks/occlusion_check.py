"""Does an occluder over the mouth pull landmark-fit's lips?  (docs/PREDICT.md, "On real footage")

Takes frames of a real video, paints a skin-coloured hand-like blob over the mouth in the middle
third of them, runs FaceMesh + the fit on the clean and on the occluded frames, and reports how far
the fitted mouth (the template's 20 mouth landmarks, projected) moves in the occluded frames, in
inter-ocular distances, with the per-landmark weights on (temporal + robust) and off.

    python benchmarks/occlusion_check.py /work/shared/data/real/single_face.mp4 --frames 30
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def occlude(images, lmk, frames):
    """Paint an ellipse (a palm) plus finger strokes over the mouth of ``frames``."""
    out = images.copy()
    H, W = images.shape[1:3]
    yy, xx = np.mgrid[0:H, 0:W]
    for t in frames:
        mouth = lmk[t, 48:68].mean(axis=0)
        iod = np.linalg.norm(lmk[t, 36] - lmk[t, 45])
        ry, rx = 0.55 * iod, 0.9 * iod
        inside = ((xx - mouth[0]) / rx) ** 2 + ((yy - mouth[1] - 0.1 * iod) / ry) ** 2 <= 1
        for k in range(4):  # fingers reaching up the cheek
            cx = mouth[0] - 0.6 * iod + 0.4 * iod * k
            finger = ((xx - cx) / (0.12 * iod)) ** 2 + ((yy - mouth[1] + 0.5 * iod) / (0.5 * iod)) ** 2
            inside |= finger <= 1
        shade = 0.85 + 0.15 * np.sin(xx / 7.0)
        out[t][inside] = (np.array([214, 160, 130]) * shade[inside, None]).astype(np.uint8)
    return out


def mouth_px(template, fit, K):
    """(T,20,2) projected template mouth landmarks of a fit (camera-space vertices)."""
    L = np.stack([template.landmarks_world(v) for v in fit["vertices"]])[:, 48:68]
    uv = L[..., :2] / L[..., 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    return uv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=30)
    args = ap.parse_args(argv)
    from facebench.adapters.mediapipe import detect_faces, detect_landmarks
    from facebench.methods import landmark_confidence as lc
    from facebench.methods import landmark_fit as lf
    from facebench.methods.sources import face_crop, intrinsics, read_video
    from facebench.templates import load

    frames = read_video(args.video, max_frames=args.frames)
    boxes, _ = detect_faces(frames.images)
    x0, y0, x1, y1 = face_crop(boxes, *frames.images.shape[1:3])
    images = np.ascontiguousarray(frames.images[:, y0:y1, x0:x1])
    H, W = images.shape[1:3]
    K = intrinsics(frames.images.shape[2], frames.images.shape[1])
    K[0, 2] -= x0
    K[1, 2] -= y0
    template = load("ict-light")
    clean, _, _ = detect_landmarks(images)
    T = len(images)
    hidden = list(range(T // 3, 2 * T // 3))
    covered = occlude(images, clean, hidden)
    occ, _, _ = detect_landmarks(covered)
    iod = np.linalg.norm(clean[:, 36] - clean[:, 45], axis=-1)[hidden]
    drift = np.linalg.norm(occ[hidden, 48:68] - clean[hidden, 48:68], axis=-1).mean(axis=1) / iod
    print(f"FaceMesh mouth points under the hand moved {np.nanmean(drift):.3f} inter-ocular distances "
          f"(mean over {len(hidden)} frames)")
    ref = mouth_px(template, lf.fit_landmarks(template, clean, K), K)
    rows = {}
    for label, weights_on in (("per-landmark weights on", True), ("per-landmark weights off", False)):
        saved = (lc.temporal_confidence, lc.robust_weights)
        if not weights_on:
            lc.temporal_confidence = lambda lmk, *a, **k: np.ones(lmk.shape[:2])
            lc.robust_weights = lambda r, *a, **k: np.ones(np.shape(r))
        try:
            fit = lf.fit_landmarks(template, occ, K)
        finally:
            lc.temporal_confidence, lc.robust_weights = saved
        move = np.linalg.norm(mouth_px(template, fit, K)[hidden] - ref[hidden], axis=-1).mean(axis=1) / iod
        rows[label] = float(np.mean(move))
        print(f"fitted mouth moved {rows[label]:.3f} inter-ocular distances ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
