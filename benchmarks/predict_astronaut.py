"""landmark-fit on the astronaut photo panned by a known (1.5, 1.0) px per frame (the sequence of
tests/test_predict.py, 8 frames of 128x128): track end-point error, time, depth.

Run from the repository root: python benchmarks/predict_astronaut.py  (writes build/astro8/)
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, ".")

from facebench.adapters.mediapipe import detect_landmarks
from facebench.methods.run import predict
from tests.test_predict import SHIFT, astronaut_frames, write_frames


def main(out=Path("build/astro8")) -> None:
    frames = astronaut_frames(T=8)
    t = time.perf_counter()
    lmk, _, score = detect_landmarks(frames)
    dt = time.perf_counter() - t
    print(
        f"FaceMesh+detector: {1000 * dt / len(frames):.1f} ms/frame on {frames.shape[2]}x{frames.shape[1]}, "
        f"faces {np.isfinite(score).sum()}/{len(frames)}"
    )
    step = np.median((lmk[1:] - lmk[:-1]).reshape(-1, 2), axis=0)
    print("landmark motion per frame (px) median:", step.round(2), "truth", SHIFT)
    folder = write_frames(out / "frames", frames)
    for template in ("ict-light", "facebench-head"):
        t = time.perf_counter()
        meta = predict(
            "landmark-fit", out / f"out-{template}", images=folder, template=template, progress=False
        )
        z = np.load(out / f"out-{template}/user/frames/cam0.npz")
        xy, vis = z["tracks_xy"], z["tracks_visible"]
        T = xy.shape[1]
        both = vis[:, 0] & vis[:, -1]
        err = np.linalg.norm((xy[both, -1] - xy[both, 0]) - (T - 1) * SHIFT, axis=-1)
        per = np.linalg.norm((xy[:, 1:] - xy[:, :-1]) - SHIFT, axis=-1)[vis[:, 1:] & vis[:, :-1]]
        print(
            f"{template}: {time.perf_counter() - t:.1f} s total ({meta['runtime_s_per_frame']:.2f} s/frame "
            f"fit+render); tracks visible first&last {both.sum()}/{len(both)}; end-point error after {T - 1} "
            f"frames median {np.median(err):.2f} px, 90th pct {np.percentile(err, 90):.2f} px; per-frame "
            f"step error median {np.median(per):.2f} px; median depth {np.nanmedian(z['depth']):.3f} m"
        )


if __name__ == "__main__":
    main()
