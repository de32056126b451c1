"""Synthetic registered-mesh captures in the Multiface layout, written file by file.

The subject is an ICT head with its fine relief, rendered by ``facebench synth``
(NeRSemble v1 layout, plus its exact truth); this module rewrites it in Multiface's
layout (facebookresearch/multiface ``documentation/DATA_STRUCTURE.md``)::

    m--20260101--0000--{pid}--GHS/KRT
    .../images/{EXP}/{cam}/{frame:06d}.png
    .../tracked_mesh/{EXP}/{frame:06d}.bin  (+ .obj, {frame:06d}_transform.txt)

The registered mesh is NOT the ICT topology: the subject's face and ears are
decimated by edge collapses (shortest first, link condition, no flips), so each
registered vertex is one subject vertex (exactly on the detailed surface at every
frame) but the triangles, the vertex count and the vertex order all differ.  Meshes
are stored in a per-frame head frame (random rigid pose, millimetres) with the pose in
``_transform.txt``; cameras in millimetres, ``K`` for the native 1334 x 2048 images; the
images are the synth's cropped to that aspect ratio (``crop``: the columns kept).  Paths
and conventions follow the Multiface documentation literally, independently of
``facebench.registered``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

NATIVE = (1334, 2048)  # Multiface's image size (W x H), which KRT's intrinsics refer to
EXPRESSIONS = ("E001_Neutral_Eyes_Open", "E057_Cheeks_Puffed")
SKIN_REGIONS = (1, 3)  # face and ears (no scalp: hair covers it; no neck: ict-light's runs under the
# shirt to the shoulders; no eyes, no mouth interior, as Multiface's meshes)


def capture_dir(root: Path, pid: str) -> Path:
    return Path(root) / f"m--20260101--0000--{pid}--GHS"


def decimate(vertices: np.ndarray, faces: np.ndarray, target: int, seed: int = 0):
    """Edge-collapse ``faces`` down to about ``target`` vertices; returns (vertex ids (N,) into
    ``vertices``, in a shuffled order, faces (F',3) indexing that list)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    V = len(vertices)
    faces = np.asarray(faces, np.int64)
    for _ in range(50):
        used = np.unique(faces)
        if len(used) <= target:
            break
        e_all = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        e_all = np.sort(e_all, axis=1)
        edges, count = np.unique(e_all, axis=0, return_counts=True)
        boundary = np.zeros(V, bool)
        boundary[edges[count == 1].ravel()] = True
        A = sp.csr_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]],
                                                     np.r_[edges[:, 1], edges[:, 0]])), shape=(V, V))
        common = np.asarray(A[edges[:, 0]].multiply(A[edges[:, 1]]).sum(1)).ravel()
        ok = (count == 2) & (common == 2) & ~boundary[edges[:, 0]] & ~boundary[edges[:, 1]]
        length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
        order = np.flatnonzero(ok)[np.lexsort((rng.random(ok.sum()), length[ok]))]
        marked = np.zeros(V, bool)
        remap = np.arange(V)
        need = len(used) - target
        pairs = []
        for k in order:
            a, b = edges[k]
            if marked[a] or marked[b]:
                continue
            remap[b] = a
            pairs.append(b)
            for x in (a, b):
                marked[A.indices[A.indptr[x]:A.indptr[x + 1]]] = True
                marked[x] = True
            if len(pairs) >= need:
                break
        if not pairs:
            break
        new = remap[faces]
        keep = (new[:, 0] != new[:, 1]) & (new[:, 1] != new[:, 2]) & (new[:, 2] != new[:, 0])
        n_old = _normals(vertices, faces)
        n_new = _normals(vertices, new)
        flipped = keep & (np.sum(n_old * n_new, axis=1) < 0.3)
        for b in np.unique(faces[flipped][np.isin(faces[flipped], pairs)]):
            remap[b] = b  # undo the collapse that flips a triangle
        new = remap[faces]
        keep = (new[:, 0] != new[:, 1]) & (new[:, 1] != new[:, 2]) & (new[:, 2] != new[:, 0])
        faces = new[keep]
    used = np.unique(faces)
    ids = used[rng.permutation(len(used))]
    index = np.full(V, -1)
    index[ids] = np.arange(len(ids))
    return ids, index[faces]


def _normals(v, f):
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)


def registered_topology(template, target: int = 7306, seed: int = 0):
    """(subject vertex ids (N,), faces (F,3)) of the registered mesh cut from ``template``'s skin."""
    keep = np.isin(np.asarray(template.face_regions), SKIN_REGIONS)
    return decimate(np.asarray(template.canonical_vertices, np.float64), template.faces[keep], target, seed)


def head_pose(seed: int, frame_id: int) -> np.ndarray:
    """A random rigid head pose (3,4) [R | t], t in millimetres (world = R v + t)."""
    rng = np.random.default_rng([seed, int(frame_id), 7])
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    return np.hstack([R, rng.uniform(-200, 200, (3, 1))])


def write_obj(path: Path, vertices_mm: np.ndarray, faces: np.ndarray) -> None:
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices_mm]
    lines += ["vt 0.5 0.5"]  # Multiface's OBJs carry uvs: faces are written v/vt
    lines += [f"f {a + 1}/1 {b + 1}/1 {c + 1}/1" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def krt_block(name: str, K: np.ndarray, T_cam_from_world: np.ndarray) -> str:
    Rt = np.asarray(T_cam_from_world, np.float64)[:3].copy()
    Rt[:, 3] *= 1000.0  # millimetres
    rows = [" ".join(f"{x:.10g}" for x in r) for r in K]
    rows += ["0 0 0 0 0"]
    rows += [" ".join(f"{x:.10g}" for x in r) for r in Rt]
    return "\n".join([name, *rows, ""]) + "\n"


def build_multiface(root, truth=None, pid: str = "101", expressions=EXPRESSIONS, frames: int = 3,
                    stride: int = 4, preset: str = "tiny", seed: int = 0, target: int = 7306,
                    obj_every_frame: bool = False) -> dict:
    """Render an ICT subject with ``facebench synth`` and write it in the Multiface layout.

    Returns {"capture": capture folder, "truth": synth truth folder (participant ``pid``),
    "synth": the synth capture (NeRSemble v1: alpha maps for tests), "cameras": {name: serial},
    "vertex_ids": registered vertex -> subject vertex, "faces": registered triangles}.
    """
    from facebench.synth import synthesize
    from facebench.templates import load

    root = Path(root)
    synth = root.parent / f"{root.name}-synth"
    truth = Path(truth) if truth is not None else root.parent / f"{root.name}-truth"
    res = synthesize(synth, preset=preset, layout="v1", seed=seed, participants=[pid],
                     sequences=list(expressions), frames=frames, stride=stride, truth_dir=truth,
                     template="ict-light", progress=False, threads=1)
    ids, faces = registered_topology(load("ict-light"), target, seed)
    out = capture_dir(root, pid)
    out.mkdir(parents=True, exist_ok=True)
    params = json.loads((synth / pid / "camera_params.json").read_text())
    names = {s: f"4000{2 * i + 2:02d}" for i, s in enumerate(sorted(params["world_2_cam"]))}
    # the synth states K for its images when they are not the 2200 x 3208 sensor resized
    size = (params.get("width", 2200), params.get("height", 3208))
    K = _rescale(params["intrinsics"], size, (res.width, res.height))
    # Multiface images are 1334 x 2048 and KRT's K is for that size: crop the synth images to
    # that aspect ratio (columns x0:x1) and write K for the native size
    width = int(round(res.height * NATIVE[0] / NATIVE[1]))
    width -= (res.width - width) % 2
    x0 = (res.width - width) // 2
    K[0, 2] -= x0
    K = _rescale(K, (width, res.height), NATIVE)
    with open(out / "KRT", "w") as fh:
        for serial, name in sorted(names.items(), key=lambda kv: kv[1]):
            fh.write(krt_block(name, K, np.array(params["world_2_cam"][serial])))
    lines = []
    for exp in expressions:
        tr = np.load(truth / pid / exp / "truth.npz")
        mesh_dir = out / "tracked_mesh" / exp
        mesh_dir.mkdir(parents=True, exist_ok=True)
        for t, fid in enumerate(tr["frame_ids"]):
            lines.append(f"{exp} {int(fid):06d}")
            for serial, name in names.items():
                src = synth / pid / "sequences" / exp / f"frame_{int(fid):05d}" / "images-2x-73fps" / \
                    f"cam_{serial}.png"
                dst = out / "images" / exp / name / f"{int(fid):06d}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.asarray(Image.open(src))[:, x0:x0 + width]).save(dst)
            pose = head_pose(seed, fid)
            world_mm = np.asarray(tr["vertices"], np.float64)[t][ids] * 1000.0
            head_mm = (world_mm - pose[:, 3]) @ pose[:, :3]  # R^T (x - t)
            head_mm.astype("<f4").tofile(mesh_dir / f"{int(fid):06d}.bin")
            np.savetxt(mesh_dir / f"{int(fid):06d}_transform.txt", pose, fmt="%.10f")
            if obj_every_frame or (exp == expressions[0] and t == 0):
                write_obj(mesh_dir / f"{int(fid):06d}.obj", head_mm, faces)
    (out / "frame_list.txt").write_text("\n".join(lines) + "\n")
    return {"capture": out, "root": root, "truth": truth, "synth": synth, "cameras": names,
            "vertex_ids": ids, "faces": faces, "pid": pid, "expressions": list(expressions),
            "width": width, "height": res.height, "crop": (x0, x0 + width)}


def _rescale(K: np.ndarray, size, to_size) -> np.ndarray:
    """K for an image of ``size`` (W, H) resized to ``to_size``, pixel centres kept."""
    sx, sy = to_size[0] / size[0], to_size[1] / size[1]
    K = np.array(K, np.float64)
    K[0] *= sx
    K[1] *= sy
    K[0, 2] += 0.5 * sx - 0.5
    K[1, 2] += 0.5 * sy - 0.5
    return K
