"""Multi-view stereo candidates for images-only captures, on the same frame, against the exact truth.

Candidates (docs/PREPARE.md, "Multi-view stereo: the choice"):

* ``planesweep``: facebench's torch plane sweep (:mod:`facebench.prepare.mvs`: ZNCC over the
  best neighbours, coarse to fine, sub-hypothesis parabola), then its geometric consistency
  filter across views. CPU or CUDA.
* ``sgbm``: OpenCV's semi-global matcher on rectified pairs (each camera with its closest
  neighbour; ``cv2.stereoRectify`` + ``StereoSGBM``, disparity range from the subject's depth
  range, left-right check), depths taken back to the camera's own pixels with a z-buffer; the same
  consistency filter then applies (``sgbm+filter``).
* pycolmap's ``patch_match_stereo`` is reported, not run: its CPU wheel raises "Dense stereo
  reconstruction requires CUDA or HIP" (checked with pycolmap 4.2.1, the latest on PyPI here).

Figures per candidate, over every camera's face pixels (the subject's face region seen in that
camera): median / p90 absolute depth error (mm), coverage (share of face pixels with a depth) and
CPU seconds for the frame::

    nice .venv/bin/python benchmarks/bench_stereo.py CAPTURE --truth TRUTH_DIR [--frame 0]

CAPTURE is a synthetic images-only capture (``facebench synth --layout v2 --truth-dir TRUTH_DIR``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def _sgbm_view(cams, images, masks, i, j, center, radius: float):
    """Depth (H,W) of camera i from the rectified pair (i, j), NaN where unknown."""
    import cv2

    ci, cj = cams[i], cams[j]
    H, W = images[i].shape[:2]
    rel = cj.T_cam_from_world @ np.linalg.inv(ci.T_cam_from_world)  # i's camera frame -> j's
    # flags=0: each rectified image keeps its own principal point; with CALIB_ZERO_DISPARITY a
    # converging pair puts the head hundreds of pixels of disparity away, out of the other image
    R1, R2, P1, P2, _, _, _ = cv2.stereoRectify(ci.K, np.zeros(5), cj.K, np.zeros(5), (W, H),
                                                rel[:3, :3].copy(), rel[:3, 3:].copy(), flags=0, alpha=0)
    grey = [cv2.cvtColor(images[k], cv2.COLOR_RGB2GRAY) for k in (i, j)]
    m1 = cv2.initUndistortRectifyMap(ci.K, np.zeros(5), R1, P1, (W, H), cv2.CV_32FC1)
    m2 = cv2.initUndistortRectifyMap(cj.K, np.zeros(5), R2, P2, (W, H), cv2.CV_32FC1)
    a, b = cv2.remap(grey[0], *m1, cv2.INTER_LINEAR), cv2.remap(grey[1], *m2, cv2.INTER_LINEAR)
    axis = 0 if abs(P2[0, 3]) > abs(P2[1, 3]) else 1  # matching along x (or y for a vertical pair)
    if axis == 1:
        a, b = a.T.copy(), b.T.copy()

    def rectified(point_world):  # coordinate along the matching axis in both rectified images
        x1 = P1 @ np.r_[R1 @ ci.world_to_cam(point_world), 1.0]
        x2 = P2 @ np.r_[R1 @ ci.world_to_cam(point_world), 1.0]
        return x1[axis] / x1[2], x2[axis] / x2[2]

    ray = center - ci.center_world
    ray /= np.linalg.norm(ray)
    d = [np.subtract(*rectified(center + s * radius * ray)) for s in (-1.0, 1.0)]
    flip = np.mean(d) < 0  # OpenCV matches with the reference image on the left: mirror both
    if flip:
        a, b, d = a[:, ::-1].copy(), b[:, ::-1].copy(), [-v for v in d]
    lo = int(np.floor(min(d))) - 8
    num = int(np.ceil((max(d) - lo + 8) / 16.0)) * 16
    if num > a.shape[1] - 8:  # the matcher cannot search this range (epipole near the image)
        print(f"sgbm: pair {i}-{j} skipped: disparity range {num} px", flush=True)
        return np.full((H, W), np.nan, np.float32)
    # converging cameras rectify with principal points far apart (disparities of hundreds of
    # pixels): shift the second image by ``lo`` so the matcher searches 0..num
    width = b.shape[1]
    b = (np.pad(b, ((0, 0), (lo, 0)))[:, :width] if lo >= 0 else np.pad(b, ((0, 0), (0, -lo)))[:, -lo:])
    block = 5
    sgbm = cv2.StereoSGBM_create(minDisparity=0, numDisparities=num, blockSize=block,
                                 P1=8 * block * block, P2=32 * block * block, disp12MaxDiff=1,
                                 uniquenessRatio=10, speckleWindowSize=50, speckleRange=2,
                                 mode=cv2.STEREO_SGBM_MODE_SGBM)
    disp = sgbm.compute(a, np.ascontiguousarray(b)).astype(np.float32) / 16.0
    disp[disp < 0] = np.nan
    disp += lo
    if flip:
        disp = -disp[:, ::-1]
    if axis == 1:
        disp = disp.T
    # x1 - x2 = disparity; in rectified camera 1: z = P2[axis,3] / ((x2 - c2) - (x1 - c1))
    v, u = np.mgrid[:H, :W].astype(np.float64)
    x1 = u if axis == 0 else v
    c1, c2 = P1[axis, 2], P2[axis, 2]
    z = P2[axis, 3] / ((x1 - disp - c2) - (x1 - c1))
    f = P1[0, 0]
    pts = np.stack([(u - P1[0, 2]) * z / f, (v - P1[1, 2]) * z / P1[1, 1], z], -1).reshape(-1, 3)
    ok = np.isfinite(pts).all(1) & (pts[:, 2] > 0)
    cam_pts = pts[ok] @ R1  # R1 turns camera i's frame into the rectified one: back with its transpose
    uvw = cam_pts @ ci.K.T
    px = np.round(uvw[:, :2] / uvw[:, 2:]).astype(int)
    inside = (px[:, 0] >= 0) & (px[:, 0] < W) & (px[:, 1] >= 0) & (px[:, 1] < H)
    depth = np.full(H * W, np.inf)
    np.minimum.at(depth, px[inside, 1] * W + px[inside, 0], cam_pts[inside, 2])
    depth = depth.reshape(H, W)
    depth[~np.isfinite(depth) | ~masks[i]] = np.nan
    return depth.astype(np.float32)


SGBM_RADIUS = 0.15  # metres about the subject's centre (a head); wide pairs span hundreds of px


def run_sgbm(cams, images, masks, center, config):
    from facebench.prepare.mvs import ViewDepth, select_neighbours

    nbs = select_neighbours(cams, center, config)
    out = []
    for i in range(len(cams)):
        d = np.full(images[i].shape[:2], np.nan, np.float32)
        if nbs[i]:
            d = _sgbm_view(cams, images, masks, i, nbs[i][0], center, SGBM_RADIUS)
        out.append(ViewDepth(depth=d, confidence=np.where(np.isfinite(d), 1.0, np.nan).astype(np.float32),
                             neighbours=nbs[i][:1]))
    return out


def main(argv=None) -> dict:
    from facebench.nersemble import open_capture
    from facebench.prepare import mvs
    from facebench.prepare.fidelity_free import TrueScene
    from facebench.prepare.sequence import read_views
    from facebench.templates import load

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--truth", required=True, help="the capture's truth folder (synth --truth-dir)")
    ap.add_argument("--frame", type=int, default=0, help="frame index in the video")
    ap.add_argument("--subject", default="ict-light", help="the template the capture was rendered from")
    ap.add_argument("--json", default=None)
    ap.add_argument("--only", choices=("planesweep", "sgbm"), default=None, help="run one candidate")
    args = ap.parse_args(argv)

    capture = open_capture(args.capture)
    pid = capture.participants()[0]
    seq = capture.sequences(pid)[0]
    views = read_views(capture, pid, seq, capture.cameras(pid, seq), [args.frame])
    cams, images = views.cameras, [im[0] for im in views.images]
    masks = [a[0] >= 0.5 for a in views.alphas]
    subject = load(args.subject)
    truth = np.load(f"{args.truth}/{pid}/{seq}/truth.npz")
    row = args.frame  # images-only (video) layouts number frames by their index in the mp4
    scene = TrueScene(subject, args.truth, pid)
    caster = scene.raycaster(truth["vertices"][row])
    center = truth["vertices"][row].mean(0)
    face_of = np.asarray(subject.face_regions) == 1
    truth_depth, face = [], []
    for cam in cams:
        d, fid, _ = scene.render(caster, cam)
        truth_depth.append(d)
        face.append((fid >= 0) & face_of[np.maximum(fid, 0)])

    def score(depths):
        err = [np.abs(d - t)[f] * 1000 for d, t, f in zip(depths, truth_depth, face)]
        have = np.concatenate([e[np.isfinite(e)] for e in err])
        if not have.size:
            return {"median_mm": None, "p90_mm": None, "coverage": 0.0}
        return {"median_mm": round(float(np.median(have)), 3),
                "p90_mm": round(float(np.percentile(have, 90)), 3),
                "coverage": round(float(np.mean([np.isfinite(e).mean() for e in err])), 3)}

    cfg = mvs.StereoConfig(device="cpu")
    results = {}
    for name, fn in (("planesweep", mvs.stereo_frame), ("sgbm", run_sgbm)):
        if args.only not in (None, name):
            continue
        c0 = time.process_time()
        raw = fn(cams, images, masks, center, cfg)
        c1 = time.process_time()
        filtered, _ = mvs.consistency_filter(cams, raw, cfg)
        c2 = time.process_time()
        results[name] = {**score([r.depth for r in raw]), "cpu_s": round(c1 - c0, 1)}
        results[name + "+filter"] = {**score(filtered), "cpu_s": round(c2 - c0, 1)}
        print(name, json.dumps(results[name]), "| filtered", json.dumps(results[name + "+filter"]),
              flush=True)
    results["pycolmap.patch_match_stereo"] = {"runs_on_cpu": _pycolmap_dense_on_cpu()}
    out = {"capture": str(args.capture), "frame": args.frame, "cameras": len(cams),
           "size": f"{images[0].shape[1]}x{images[0].shape[0]}", "results": results}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    print(json.dumps(out, indent=1))
    return out


def _pycolmap_dense_on_cpu():
    """False with the reason when pycolmap's dense stereo cannot run here, None when not installed."""
    try:
        import pycolmap
    except ImportError:
        return None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            pycolmap.patch_match_stereo(tmp)
        except Exception as exc:
            return f"no: {exc}"
    return True


if __name__ == "__main__":
    main()
