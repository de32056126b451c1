"""A tiny synthetic Ava-256 capture: an ICT subject rendered by facebench's synth, written in the
official ``facebookresearch/ava-256`` layout (zipped images, transposed KRT in millimetres,
head poses, registered meshes as zipped PLYs in the head frame, segmentation_parts labels).

Written from the official loader's conventions, not from ``facebench.registered.ava256`` (no
shared constants or writers), so the reader is checked against the layout, not itself.

The registered mesh is NOT the ict-light topology in its vertex order: it is the subject's
deformed skin (face, scalp, ears: no neck, eyes or mouth interior) with its fine relief,
unreferenced vertices dropped and the rest permuted, so a consumer must find the
correspondence to the template itself.  :class:`Ava256Build` keeps what tests compare against.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, features

SENSOR = (2668, 4096)            # Ava-256's full image size, which the calibration K refers to
SEGMENTS = {"EXP_neutral_peak": (100,), "EXP_free_face": (103, 106)}
SKIN_REGIONS = (1, 2, 3)         # ict-light regions kept in the registered topology
KEYPOINT_VERTICES = np.arange(0, 2000, 100)  # registered vertices written as the 3D keypoints
LABEL_OF_KIND = {1: 2, 2: 1, 3: 4}  # synth render kind (template, hair, torso) -> Body, Hair, Apparel


@dataclass
class Ava256Build:
    root: Path
    capture_dirs: dict = field(default_factory=dict)   # sid -> capture folder
    cameras: dict = field(default_factory=dict)        # (sid, name) -> facebench Camera (width x height)
    renders: dict = field(default_factory=dict)        # (sid, frame, name) -> (rgb, foreground, depth)
    vertices: dict = field(default_factory=dict)       # (sid, frame) -> registered (V,3) world metres
    template_vertices: dict = field(default_factory=dict)  # (sid, frame) -> ict-light (V_ict,3) world
    faces: np.ndarray | None = None                    # registered triangles
    template_index: np.ndarray | None = None           # ict-light vertex of each registered vertex
    image_ext: str = "avif"
    width: int = 0
    height: int = 0


def write_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def encode(array: np.ndarray, ext: str) -> bytes:
    buf = io.BytesIO()
    kwargs = {"quality": 90} if ext == "avif" else {}
    Image.fromarray(array).save(buf, format="AVIF" if ext == "avif" else "PNG", **kwargs)
    return buf.getvalue()


def ply_bytes(vertices_mm: np.ndarray) -> bytes:
    header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vertices_mm)}\n"
              "property float x\nproperty float y\nproperty float z\nend_header\n")
    return header.encode() + np.asarray(vertices_mm, "<f4").tobytes()


def krt_entry(name: str, camera, distortion=(0.0, 0.0, 0.0, 0.0)) -> dict:
    """One ``KRT`` item: K for the 2668 x 4096 sensor and T = (4x4 world-to-camera, mm).T."""
    full = camera.rescaled(*SENSOR)
    T = full.T_cam_from_world.copy()
    T[:3, 3] *= 1000.0
    return {"cameraId": name, "projectionModel": "Pinhole", "distortionModel": "RadialAndTangential",
            "K": full.K.T.tolist(), "distortion": list(distortion), "T": T.T.tolist()}


def distort_image(image: np.ndarray, K: np.ndarray, dist, nearest: bool) -> np.ndarray:
    """What a lens with OpenCV ``k1 k2 p1 p2`` shows of the pinhole ``image``: each distorted
    pixel looks up the pinhole pixel whose distorted position it is (fixed-point inversion)."""
    k1, k2, p1, p2 = dist
    h, w = image.shape[:2]
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    xd, yd = (u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]
    x, y = xd.copy(), yd.copy()
    for _ in range(50):
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2
        x = (xd - 2 * p1 * x * y - p2 * (r2 + 2 * x * x)) / radial
        y = (yd - p1 * (r2 + 2 * y * y) - 2 * p2 * x * y) / radial
    su, sv = K[0, 0] * x + K[0, 2], K[1, 1] * y + K[1, 2]
    if nearest:
        return image[np.clip(np.rint(sv), 0, h - 1).astype(int), np.clip(np.rint(su), 0, w - 1).astype(int)]
    u0, v0 = np.clip(np.floor(su), 0, w - 2).astype(int), np.clip(np.floor(sv), 0, h - 2).astype(int)
    a, b = np.clip(su - u0, 0, 1)[..., None], np.clip(sv - v0, 0, 1)[..., None]
    img = image.astype(np.float64)
    out = (img[v0, u0] * (1 - a) + img[v0, u0 + 1] * a) * (1 - b) + \
        (img[v0 + 1, u0] * (1 - a) + img[v0 + 1, u0 + 1] * a) * b
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def registered_topology(template, seed: int):
    """(template vertex index of each registered vertex, registered faces): skin only, permuted."""
    faces = np.asarray(template.faces, np.int64)
    keep = np.isin(np.asarray(template.regions), SKIN_REGIONS)
    faces = faces[keep[faces].all(axis=1)]
    used = np.unique(faces)
    order = np.random.default_rng(seed).permutation(len(used))
    index = used[order]                       # registered vertex i is template vertex index[i]
    remap = np.full(len(keep), -1, np.int64)
    remap[index] = np.arange(len(index))
    return index, remap[faces]


def build_ava256(root, sids=("AAN112",), segments=SEGMENTS, n_cameras: int = 3, width: int = 42,
                 height: int = 64, seed: int = 0, image_ext: str | None = None,
                 folder_style: str = "download", distortion=(0.0, 0.0, 0.0, 0.0)) -> Ava256Build:
    """Render and write the capture of each subject id in ``sids``; returns the truth kept.

    folder_style "download" names captures ``{mcd}--{mct}--{SID}`` (download.py), "datasheet"
    ``m--{mcd}--{mct}--{SID}--GHS``.  ``image_ext``: "avif" (the real format; default when
    Pillow writes it) or "png" (lossless).  ``distortion`` (k1, k2, p1, p2): written to the
    calibration and applied to the images and labels (the kept renders stay pinhole).
    """
    from facebench.synth.arkit import arkit_performance
    from facebench.synth.motion import euler_to_matrix, make_performance, recipe
    from facebench.synth.render_job import CaptureConfig, Participant
    from facebench.templates import load

    root = Path(root)
    image_ext = image_ext or ("avif" if features.check("avif") else "png")
    template = load("ict-light")
    index, reg_faces = registered_topology(template, seed)
    build = Ava256Build(root=root, faces=reg_faces, template_index=index, image_ext=image_ext,
                        width=width, height=height)
    all_frames = tuple(sorted(f for frames in segments.values() for f in frames))
    for k, sid in enumerate(sids):
        name = f"20230405--{1635 + k:04d}--{sid}"
        cap = root / (name if folder_style == "download" else f"m--{name}--GHS")
        dec = cap / "decoder"
        dec.mkdir(parents=True)
        build.capture_dirs[sid] = cap
        cfg = CaptureConfig(out="", truth="", layout="v1", seed=seed, n_cameras=n_cameras, width=width,
                            height=height, frame_ids=all_frames, threads=1)
        p = Participant(template, sid, cfg)
        names = {serial: f"4009{i:02d}" for i, serial in enumerate(p.rig.serials)}
        krt = [krt_entry(names[s], p.cameras[s], distortion) for s in p.rig.serials]
        (dec / "camera_calibration.json").write_text(json.dumps({"KRT": krt}, indent=1))
        for s in p.rig.serials:
            build.cameras[(sid, names[s])] = p.cameras[s]
        with open(dec / "frame_list.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["seg_id", "frame_id"])
            for seg, frames in segments.items():
                writer.writerows([seg, f] for f in frames)
        images = {s: {} for s in p.rig.serials}
        labels = {s: {} for s in p.rig.serials}
        meshes, poses, keypoints, neutral_local = {}, {}, {}, None
        for seg, frames in segments.items():
            perf = make_performance(seed, sid, seg, np.asarray(frames), template.n_expression)
            perf = arkit_performance(perf, seed, sid, recipe(seg), template.expression_names)
            if "neutral" in seg.lower():
                perf = dataclasses.replace(perf, expression=np.zeros_like(perf.expression))
            world = p.scene.template_vertices(perf)
            R = euler_to_matrix(perf.rotation)
            t_mm = (perf.translation + p.scene.base_translation[None]) * 1000.0
            for j, fid in enumerate(frames):
                fs = p.scene.frame(world[j], perf)
                for s in p.rig.serials:
                    r = fs.render(p.cameras[s], p.backgrounds[s])
                    member = f"cam{names[s]}/{fid:06d}"
                    lab = np.zeros(r.kind.shape, np.uint8)
                    for kind, label in LABEL_OF_KIND.items():
                        lab[r.kind == kind] = label
                    rgb = r.rgb
                    if any(distortion):
                        K = p.cameras[s].K
                        rgb = distort_image(rgb, K, distortion, False)
                        lab = distort_image(lab, K, distortion, True)
                    images[s][f"{member}.{image_ext}"] = encode(rgb, image_ext)
                    labels[s][f"{member}.png"] = encode(lab, "png")
                    build.renders[(sid, fid, names[s])] = (r.rgb, r.foreground, r.depth)
                reg_world = world[j][index]
                build.template_vertices[(sid, fid)] = world[j]
                build.vertices[(sid, fid)] = reg_world
                local_mm = (reg_world * 1000.0 - t_mm[j]) @ R[j]  # R^T (x - t), row vectors
                meshes[f"{fid:06d}.ply"] = ply_bytes(local_mm)
                kp = np.zeros((len(KEYPOINT_VERTICES), 6))  # id, x y z world mm, confidence, inliers
                kp[:, 0] = np.arange(len(KEYPOINT_VERTICES))
                kp[:, 1:4] = reg_world[KEYPOINT_VERTICES] * 1000.0
                kp[:, 4], kp[:, 5] = 5.0, 8
                buf = io.BytesIO()
                np.save(buf, kp)
                keypoints[f"{fid:06d}.npy"] = buf.getvalue()
                pose = np.concatenate([R[j], t_mm[j][:, None]], axis=1)
                text = "\n".join(" ".join(f"{x:.9f}" for x in row) for row in pose)
                poses[f"{fid:06d}.txt"] = text.encode()
                if neutral_local is None:
                    neutral_local = local_mm
        for s in p.rig.serials:
            write_zip(dec / "image" / f"cam{names[s]}.zip", images[s])
            write_zip(dec / "segmentation_parts" / f"cam{names[s]}.zip", labels[s])
        write_zip(dec / "kinematic_tracking" / "registration_vertices.zip", meshes, zipfile.ZIP_DEFLATED)
        write_zip(dec / "head_pose" / "head_pose.zip", poses, zipfile.ZIP_DEFLATED)
        write_zip(dec / "keypoints_3d" / "keypoints_3d.zip", keypoints, zipfile.ZIP_DEFLATED)
        np.save(dec / "kinematic_tracking" / "registration_vertices_mean.npy",
                np.mean([np.frombuffer(b[b.index(b"end_header\n") + 11:], "<f4").reshape(-1, 3)
                         for b in meshes.values()], axis=0))
        if k == 0:
            write_topology(root / "face_topology.obj", neutral_local, reg_faces)
    return build


def write_topology(path: Path, vertices_mm: np.ndarray, faces: np.ndarray) -> None:
    """An OBJ like the repo's assets/face_topology.obj: v, vt and ``f v/vt`` lines (1-based)."""
    lines = [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in vertices_mm]
    lines += [f"vt {u:.4f} {v:.4f}" for u, v in np.random.default_rng(0).random((len(vertices_mm), 2))]
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}" for i in tri) for tri in faces]
    path.write_text("\n".join(lines) + "\n")
