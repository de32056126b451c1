"""A capture facebench's synth did not make: a real scanned head, another renderer, other lights.

The generalisation check of docs/BASELINE.md.  Nothing here comes from ``facebench.synth``:

* **subject**: ``james.obj`` + ``james.jpg``, a textured 3D face scan with 68 3D landmarks
  (``james.ljson``) shipped in the data folder of the menpo3d package (menpo3d 0.8.6,
  BSD-3-Clause): a real person, not an ICT or facebench-head identity.  Fetch it with
  ``pip download --no-deps --no-binary menpo3d --no-build-isolation menpo3d==0.8.6`` (needs numpy
  and cython in the downloading Python for the sdist's metadata step) and
  ``tar xzf menpo3d-0.8.6.tar.gz``.
* **renderer**: surface splatting with a z-buffer (every triangle sampled on a barycentric grid,
  projected, nearest sample per pixel wins, small holes closed), texture looked up per sample,
  Blinn-Phong shading under a warm key light, a cool fill light and a rim light; a studio
  gradient backdrop.  facebench's synth ray casts (Embree) with Lambert shading of vertex albedo.
* **rig and motion**: 10 cameras on an arc (-60° to 60° yaw, three heights, 0.75-1.0 m, 28-36°
  vertical field of view), the head turning and nodding over 8 frames; participant id 990 (ids
  900-999 are test-only everywhere in facebench; this capture is never used in training).

Ground truth: ict-light is fitted to the scan once (landmark similarity, then
``facebench.prepare.fit.fit_sequence`` on points sampled from the scan), the fitted mesh moves
with the head, and ``facebench.gtmaps`` (the code every facebench GT goes through) turns it and
the renderer's z-buffer depth into depth, canonical, mask and tracks, written by ``GTWriter``
as benchmark ``scan-v1`` (datasets/scan-v1/benchmark.yaml).

    python benchmarks/scan_capture.py --menpo3d menpo3d-0.8.6/menpo3d/data --out build/gt/scan-v1
    facebench predict transformer --gt build/gt/scan-v1 --out build/preds/scan/transformer
    facebench evaluate --preds build/preds/scan/transformer --gt build/gt/scan-v1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PID, SEQ = "990", "ROT-1"
WIDTH, HEIGHT = 176, 256
# menpo3d's james.ljson label groups -> iBUG-68 index ranges (menpo names eyes/brows by image side)
GROUPS = {"chin": (0, 17), "leyebrow": (17, 22), "reyebrow": (22, 27), "nose": (27, 36), "leye": (36, 42),
          "reye": (42, 48), "mouth": (48, 68)}


def read_scan(folder: Path):
    """(vertices (V,3) m, faces (F,3), uv (F,3,2), texture (H,W,3) uint8, landmarks (68,3) m iBUG)."""
    from PIL import Image

    v, vt, f, ft = [], [], [], []
    for line in (folder / "james.obj").read_text().splitlines():
        p = line.split()
        if not p:
            continue
        if p[0] == "v":
            v.append([float(x) for x in p[1:4]])
        elif p[0] == "vt":
            vt.append([float(x) for x in p[1:3]])
        elif p[0] == "f":
            idx = [tok.split("/") for tok in p[1:]]
            for k in range(1, len(idx) - 1):
                tri = (idx[0], idx[k], idx[k + 1])
                f.append([int(t[0]) - 1 for t in tri])
                ft.append([int(t[1]) - 1 for t in tri])
    tex = np.asarray(Image.open(folder / "james.jpg").convert("RGB"))
    data = json.loads((folder / "james.ljson").read_text())["groups"]["LJSON"]
    pts = np.asarray(data["landmarks"]["points"], np.float64)
    ibug = np.full((68, 3), np.nan)
    for label in data["labels"]:
        lo, hi = GROUPS[label["label"]]
        ibug[lo:hi] = pts[label["mask"]]
    uv = np.asarray(vt)[np.asarray(ft)]
    return np.asarray(v) / 1000.0, np.asarray(f), uv, tex, ibug / 1000.0


def similarity(src, dst):
    """(s, R, t) with dst ~ s R src + t (Umeyama)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(b.T @ a)
    D = np.diag([1, 1, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    s = np.trace(np.diag(S) @ D) / (a**2).sum()
    return s, R, md - s * R @ ms


def fit_template(template, scan_v, scan_f, scan_lmk):
    """The scan in the template's canonical frame (rigid, real size) and ict-light fitted to it."""
    from facebench.prepare.fit import FitConfig, fit_sequence
    from facebench.prepare.pointcloud import PointCloud
    from facebench.prepare.register_fit import surface_samples

    t_lmk = template.landmarks_world(template.canonical_vertices)
    inner = np.arange(17, 68)
    s, R, t = similarity(scan_lmk[inner], t_lmk[inner])
    scan_v = scan_v @ R.T + t  # rigid only: the scan keeps its size, the fit's identity absorbs it
    lmk = scan_lmk @ R.T + t
    xyz, nrm = surface_samples(scan_v, scan_f, 2)
    init = {"rotation": np.zeros((1, 3)), "translation": np.zeros((1, 3))}  # already in the canonical frame
    fit = fit_sequence(template, [PointCloud(xyz, nrm)], None, (), init, FitConfig())
    residual = float(np.nanmedian(fit.residual_mm))
    lmk_err = np.linalg.norm(template.landmarks_world(fit.vertices[0])[inner] - lmk[inner], axis=1) * 1000
    return scan_v, np.asarray(fit.vertices[0], np.float64), {
        "similarity_scale": float(s), "fit_residual_mm_median": residual,
        "landmark_error_mm_median": float(np.median(lmk_err))}


def motion(T: int):
    """(T,4,4) head poses: turning (yaw ±30°) and nodding (pitch ±12°), swaying a few cm."""
    from scipy.spatial.transform import Rotation

    ph = np.linspace(0, 2 * np.pi, T, endpoint=False)
    out = np.tile(np.eye(4), (T, 1, 1))
    out[:, :3, :3] = Rotation.from_euler("yxz", np.stack([30 * np.sin(ph), 12 * np.sin(2 * ph),
                                                          4 * np.cos(ph)], 1), degrees=True).as_matrix()
    out[:, :3, 3] = np.stack([0.02 * np.sin(ph), 0.01 * np.cos(ph), 0.015 * np.sin(ph)], 1)
    return out


def cameras(n: int = 10):
    """``n`` cameras on an arc in front of the head (canonical +z faces them; +y up)."""
    from facebench.geometry import Camera

    out = {}
    for i, yaw in enumerate(np.linspace(-60, 60, n)):
        elev = [-12.0, 2.0, 15.0][i % 3]
        dist = 0.75 + 0.25 * ((i * 7) % 10) / 9
        fov = np.deg2rad(28 + 8 * ((i * 3) % 10) / 9)
        y, e = np.deg2rad(yaw), np.deg2rad(elev)
        centre = dist * np.array([np.sin(y) * np.cos(e), np.sin(e), np.cos(y) * np.cos(e)]) + [0, 0.02, 0]
        fwd = -centre / np.linalg.norm(centre)  # camera z looks at the head
        right = np.cross(fwd, [0, 1, 0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        R = np.stack([right, down, fwd])  # rows: camera x (right), y (down), z (forward)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, -R @ centre
        f = 0.5 * HEIGHT / np.tan(fov / 2)
        K = np.array([[f, 0, (WIDTH - 1) / 2], [0, f, (HEIGHT - 1) / 2], [0, 0, 1]])
        out[f"cam{i:02d}"] = Camera(K=K, T_cam_from_world=T, width=WIDTH, height=HEIGHT)
    return out


def splat_render(v_world, faces, uv, tex, camera, n_sub: int = 7):
    """(rgb (H,W,3) uint8, depth (H,W) float32 NaN off the scan) by surface splatting + z-buffer."""
    from scipy.ndimage import binary_closing, distance_transform_edt

    H, W = camera.height, camera.width
    g = [(i, j) for i in range(n_sub + 1) for j in range(n_sub + 1 - i)]
    b = np.array([[i / n_sub, j / n_sub, 1 - (i + j) / n_sub] for i, j in g])  # (S,3)
    cam_v = camera.world_to_cam(v_world)
    vn = _vertex_normals(cam_v, faces)
    P = np.einsum("sk,fkc->fsc", b, cam_v[faces]).reshape(-1, 3)
    N = np.einsum("sk,fkc->fsc", b, vn[faces]).reshape(-1, 3)
    UV = np.einsum("sk,fkc->fsc", b, uv).reshape(-1, 2)
    z = P[:, 2]
    px = P @ camera.K.T
    u, w = np.round(px[:, 0] / z).astype(int), np.round(px[:, 1] / z).astype(int)
    ok = (z > 0.05) & (u >= 0) & (u < W) & (w >= 0) & (w < H) & (np.einsum("ij,ij->i", N, -P) > 0)
    idx = np.flatnonzero(ok)
    pix = w[idx] * W + u[idx]
    order = np.lexsort((z[idx], pix))  # per pixel, nearest first
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
    sel = idx[first]
    depth = np.full(H * W, np.nan)
    depth[pix[first]] = z[sel]
    colour = np.zeros((H * W, 3))
    th, tw = tex.shape[:2]
    texel = tex[np.clip(((1 - UV[sel, 1]) * (th - 1)).round().astype(int), 0, th - 1),
                np.clip((UV[sel, 0] * (tw - 1)).round().astype(int), 0, tw - 1)] / 255.0
    colour[pix[first]] = _shade(texel, N[sel], P[sel])
    depth, colour = depth.reshape(H, W), colour.reshape(H, W, 3)
    hit = np.isfinite(depth)
    closed = binary_closing(hit, iterations=2) & ~hit  # pinholes between splats
    if closed.any():
        _, (iy, ix) = distance_transform_edt(~hit, return_indices=True)
        depth[closed], colour[closed] = depth[iy, ix][closed], colour[iy, ix][closed]
        hit |= closed
    yy = np.linspace(0, 1, H)[:, None, None]
    backdrop = (1 - yy) * np.array([0.55, 0.6, 0.68]) + yy * np.array([0.25, 0.27, 0.32])
    rgb = np.where(hit[..., None], colour, np.broadcast_to(backdrop, (H, W, 3)))
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), np.where(hit, depth, np.nan).astype(np.float32)


def _vertex_normals(v, f):
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    out = np.zeros_like(v)
    for k in range(3):
        np.add.at(out, f[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _shade(albedo, normal, point):
    """Blinn-Phong in camera space: warm key (upper left), cool fill (right), rim from behind."""
    n = normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    view = -point / np.linalg.norm(point, axis=1, keepdims=True)
    out = 0.18 * albedo
    lights = (((-0.6, -0.5, -0.6), (1.0, 0.9, 0.75), 0.25), ((0.8, 0.1, -0.5), (0.35, 0.42, 0.6), 0.1),
              ((0.2, -0.6, 0.8), (0.3, 0.3, 0.35), 0.0))
    for d, c, spec in lights:
        ldir = -np.asarray(d) / np.linalg.norm(d)  # towards the light
        lam = np.clip(n @ ldir, 0, None)[:, None]
        h = ldir + view
        h /= np.linalg.norm(h, axis=1, keepdims=True)
        highlight = np.clip(np.einsum("ij,ij->i", n, h), 0, None) ** 40
        out = out + albedo * lam * c + spec * highlight[:, None] * np.asarray(c)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--menpo3d", required=True, type=Path, help="menpo3d-0.8.6/menpo3d/data")
    ap.add_argument("--out", default="build/gt/scan-v1", type=Path)
    ap.add_argument("--frames", type=int, default=8)
    args = ap.parse_args(argv)
    from facebench import gtmaps
    from facebench.io.shards import Clip, GTWriter, Sequence
    from facebench.templates import load

    template = load("ict-light")
    v, f, uv, tex, lmk = read_scan(args.menpo3d)
    scan_v, fitted, stats = fit_template(template, v, f, lmk)
    print("template fit:", stats, flush=True)
    poses = motion(args.frames)
    move = lambda x, M: x @ M[:3, :3].T + M[:3, 3]  # noqa: E731
    scan_t = np.stack([move(scan_v, M) for M in poses])
    verts_t = np.stack([move(fitted, M) for M in poses])
    cams = cameras()
    clips = []
    for i, (serial, cam) in enumerate(cams.items()):
        imgs, depths = zip(*(splat_render(scan_t[t], f, uv, tex, cam) for t in range(args.frames)))
        maps = [gtmaps.view_maps(template, verts_t[t], cam, depths[t], np.isfinite(depths[t]))
                for t in range(args.frames)]
        depth, canonical, mask = (np.stack(m) for m in zip(*maps))
        tracks = gtmaps.tracks(template, verts_t, cam, depth, mask > 0, n_tracks=256, seed=i)
        clips.append(Clip(serial=serial, image=np.stack(imgs), mask=mask, depth=depth, canonical=canonical,
                          K=cam.K, T_cam_from_world=cam.T_cam_from_world, tracks=tracks))
        print(f"{serial}: rendered, {int(np.isfinite(depth).sum())} depth pixels", flush=True)
    seq = Sequence(participant=PID, sequence=SEQ, frame_ids=np.arange(args.frames, dtype=np.int32),
                   vertices=verts_t.astype(np.float32), clips=clips,
                   attrs={"template": template.name, "source": "menpo3d james scan, splat renderer",
                          "fit_residual_mm": stats["fit_residual_mm_median"], **stats})
    info = {"name": template.name, "sha256": template.sha256, "center": list(map(float, template.center)),
            "scale": float(template.scale)}
    config = {"generator": "benchmarks/scan_capture.py", **stats}
    writer = GTWriter(args.out, template=info, dataset="scan", config=config, benchmark="scan-v1")
    writer.commit(writer.write_sequence(seq, 0))
    print(f"wrote {args.out}: {len(clips)} clips of {args.frames} frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
