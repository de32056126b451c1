"""How close can landmark-fit get on real-landmarks-v1?  The detector's own error, per photo.

landmark-fit fits the template to MediaPipe FaceMesh's landmarks (read at the iBUG-68 points),
so the detections bound what the fit can reach on the human labels.  For each photo this prints
the NME (51 inner points, outer eye-corner distance, as ``facebench.metrics.landmarks``) of the
detections themselves, on the same crop ``facebench predict`` uses:

    python benchmarks/landmark_floor.py build/real-landmarks/gt/real-landmarks-v1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gt", type=Path, help="prepared real-landmarks-v1 GT")
    args = ap.parse_args(argv)

    from facebench.adapters.mediapipe import detect_faces, detect_landmarks
    from facebench.io.landmark_gt import LandmarkGT
    from facebench.methods.sources import face_crop
    from facebench.metrics.landmarks import INNER_51, landmark_errors, outer_eye_distance

    reader = LandmarkGT(args.gt)
    nmes = []
    for cid in reader.clip_ids:
        image = reader.image(cid)[None]
        boxes, _ = detect_faces(image)
        x0, y0, x1, y1 = face_crop(boxes, *image.shape[1:3])
        crop = np.ascontiguousarray(image[:, y0:y1, x0:x1])
        lmk, _, _ = detect_landmarks(crop, video=True)  # as landmark-fit calls it
        gt = reader.landmarks(cid)
        pred = lmk[0] + [x0, y0]
        err = landmark_errors(pred[None, INNER_51], gt[None, INNER_51], outer_eye_distance(gt[None]))
        nmes.append(float(np.mean(err)))
        print(f"{reader.item(cid)['name']:12s} detector NME {nmes[-1]:.4f}")
    print(f"mean over {len(nmes)} photos: {np.mean(nmes):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
