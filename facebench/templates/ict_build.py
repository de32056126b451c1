"""Rebuild the shipped ``ict-light`` asset from an ICT-FaceKit checkout.

    python -m facebench.templates.ict_build --src /path/to/ICT-FaceKit [--out PATH]

Reads ``FaceXModel/`` (generic neutral mesh, 100 identity OBJs, the 53 official
expression OBJs listed in ``vertex_indices.json``), keeps upstream vertices
``0 .. 24,590`` in upstream order (skin, mouth and eye sockets, gums and tongue,
teeth, eyeballs; the lacrimal fluid, eye-blend, eye-occlusion and eyelash shells
are shader helpers and are left out), triangulates the quads (``a b c d`` ->
``a b c``, ``a c d``) and stores, in centimetres as upstream:

``neutral`` (V,3) float32; ``identity_q`` (100,V,3) and ``expression_q`` (53,V,3)
int16 fixed point: mode = q * ``step_cm`` (each mode is its OBJ minus the neutral);
``faces`` (F,3) int32; ``landmark_vertex`` (68,) the Multi-PIE 68 vertex indices;
``expression_names``.  The step (0.0005 cm = 0.005 mm) bounds every stored mode
vertex within 0.0025 mm of the upstream OBJ.  The output is deterministic; the
sha256 of its arrays (:func:`asset_sha256`) is recorded in docs/TEMPLATES.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

UPSTREAM_COMMIT = "da5f95a607f5e6b37755b38d3385d7f2853732e5"
N_KEPT = 24591          # upstream vertices 0..24,590 (through the right eyeball)
STEP_CM = 0.0005        # fixed-point step of the stored modes: 0.005 mm
N_IDENTITY = 100
ASSET_PATH = Path(__file__).resolve().parent / "data" / "ict-light.npz"
# sha256 of the shipped asset's arrays (also in docs/TEMPLATES.md); a rebuild from upstream gives it again
ASSET_SHA256 = "0979f146e9a51f3eec9171a8c65626a1be5a9f20d9181dba7b44921db74e3eb3"


def read_obj(path: Path) -> tuple[np.ndarray, list[list[int]]]:
    """Vertices (V,3) float64 and polygon vertex indices (0-based) of an OBJ file."""
    data = Path(path).read_bytes().split(b"\n")
    verts = [line[2:] for line in data if line.startswith(b"v ")]
    v = np.array(b" ".join(verts).split(), dtype=np.float64).reshape(-1, 3)
    polys = [[int(tok.split(b"/")[0]) - 1 for tok in line.split()[1:]]
             for line in data if line.startswith(b"f ")]
    return v, polys


def read_vertices(path: Path) -> np.ndarray:
    return read_obj(path)[0]


def triangulate(polys: list[list[int]], n_kept: int) -> np.ndarray:
    """(F,3) triangles of the polygons whose vertices are all below ``n_kept`` (fan split)."""
    tris = []
    for p in polys:
        if max(p) >= n_kept:
            continue
        tris.extend((p[0], p[i], p[i + 1]) for i in range(1, len(p) - 1))
    return np.asarray(tris, dtype=np.int32)


def build_arrays(src) -> dict:
    """The compact asset arrays from an ICT-FaceKit checkout at ``src``."""
    model = Path(src) / "FaceXModel"
    index_file = model / "vertex_indices.json"
    if not index_file.is_file():
        raise FileNotFoundError(f"{index_file} not found: --src must be an ICT-FaceKit checkout")
    indices = json.loads(index_file.read_text())
    names = list(indices["expressions"])
    neutral, polys = read_obj(model / "generic_neutral_mesh.obj")

    def modes(files):
        out = np.empty((len(files), N_KEPT, 3), np.int16)
        for k, f in enumerate(files):
            delta = read_vertices(model / f)[:N_KEPT] - neutral[:N_KEPT]
            q = np.round(delta / STEP_CM)
            if np.abs(q).max() > 32767:
                raise ValueError(f"{f}: a displacement exceeds the int16 fixed-point range")
            out[k] = q.astype(np.int16)
        return out

    return {
        "neutral": neutral[:N_KEPT].astype(np.float32),
        "faces": triangulate(polys, N_KEPT),
        "identity_q": modes([f"identity{k:03d}.obj" for k in range(N_IDENTITY)]),
        "expression_q": modes([f"{n}.obj" for n in names]),
        "step_cm": np.float64(STEP_CM),
        "landmark_vertex": np.asarray(indices["idx_to_landmark_verts"], dtype=np.int32),
        "expression_names": np.asarray(names),
        "upstream_commit": np.asarray(UPSTREAM_COMMIT),
    }


def asset_sha256(arrays: dict) -> str:
    """sha256 over the asset's arrays (names, dtypes, shapes and bytes), independent of zip metadata."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[key]))
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_asset(path=ASSET_PATH) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", required=True, help=f"ICT-FaceKit checkout (commit {UPSTREAM_COMMIT[:8]})")
    parser.add_argument("--out", default=str(ASSET_PATH), help="output .npz (default: the shipped asset)")
    args = parser.parse_args(argv)
    arrays = build_arrays(args.src)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), arrays sha256 {asset_sha256(arrays)}")


if __name__ == "__main__":
    main()
