"""Dense correspondences between two templates' canonical spaces (SPEC §2).

A prediction made in template A's canonical space is scored on a benchmark built on
template B by mapping each predicted coordinate through a registration of A's
neutral mesh onto B's:

1. a similarity (Umeyama) from A's 68 iBUG landmarks to B's;
2. a thin-plate-spline warp that takes A's landmarks exactly onto B's;
3. non-rigid closest-point iterations: each vertex of A's face, scalp, ears and neck
   is pulled to the closest point of the same regions of B, the pull smoothed over
   A's mesh (fewer smoothing steps each round, so the fit goes from rigid-ish to
   tight) and the landmarks re-pinned after every round;
4. vertices within 5 mm of B are projected onto it.

The result is A's topology with vertices in B's canonical space (``vertices``
(V_A,3) metres).  A point of A's canonical space maps by closest point on A's
canonical mesh (face, barycentrics, offset in the triangle frame) carried onto that
registered mesh (``Template.from_canonical``), then B's normalisation.

Shipped for built-in pairs (``facebench/templates/correspondences/``); computed on
demand otherwise (e.g. FLAME from the user's pickle) and cached under
``$FACEBENCH_HOME/cache/correspondences``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError

VERSION = 1
SHIPPED = Path(__file__).parent / "correspondences"
DATA_REGIONS = (1, 2, 3, 4)  # face, scalp, ears, neck: the surface both templates share
SMOOTHING = (64, 16, 4, 1)  # neighbour-averaging steps per round (more rounds slide: measured)
PROJECT_WITHIN = 0.005  # metres
MAX_PULL = 0.02  # metres: farther closest points are outliers (a region B does not have)


@dataclass
class Correspondence:
    """Template ``source``'s mesh registered into ``target``'s canonical space."""

    source: object  # Template
    target: object  # Template
    vertices: np.ndarray  # (V_source, 3) metres, target canonical space
    metrics: dict = field(default_factory=dict)

    def convert(self, c_source) -> np.ndarray:
        """Normalized canonical (...,3) of ``source`` -> normalized canonical of ``target``; NaN stays NaN."""
        c = np.asarray(c_source, dtype=np.float64)
        flat = c.reshape(-1, 3)
        out = self.target.normalize(self.source.from_canonical(flat, self.vertices))
        return out.reshape(c.shape)


def umeyama(src, dst):
    """Similarity (s, R, t) minimising |s R src + t - dst|^2 over rows (closed form)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt)) or 1.0
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a ** 2).sum(1).mean())
    return s, R, mu_d - s * R @ mu_s


def _averaging(faces, n: int):
    """Row-normalised vertex adjacency (sparse n x n), self included."""
    import scipy.sparse as sp

    f = np.asarray(faces)
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0], np.arange(n)])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2], np.arange(n)])
    A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    A.data[:] = 1.0
    return sp.diags(1.0 / np.asarray(A.sum(1)).ravel()) @ A


def _landmark_matrix(template):
    import scipy.sparse as sp

    if template.landmarks is None:
        raise FacebenchError(f"template {template.name!r} has no landmark embedding: cannot register it")
    face_id, bary = template.landmarks
    tri = template.faces[face_id]
    return sp.csr_matrix((bary.ravel(), (np.repeat(np.arange(len(tri)), 3), tri.ravel())),
                         shape=(len(tri), template.n_vertices))


def _paired_landmarks(a, b):
    """Landmark matrices (L,V_a), (L,V_b) with matching rows: the 68 iBUG points, or the 51 without
    the jaw line (iBUG 17-67) when one template has only FLAME's static 51."""
    W_a, W_b = _landmark_matrix(a), _landmark_matrix(b)
    if W_a.shape[0] == W_b.shape[0]:
        return W_a, W_b
    if {W_a.shape[0], W_b.shape[0]} == {51, 68}:
        return (W_a[17:] if W_a.shape[0] == 68 else W_a), (W_b[17:] if W_b.shape[0] == 68 else W_b)
    raise FacebenchError(f"{a.name!r} has {W_a.shape[0]} landmarks, {b.name!r} {W_b.shape[0]}: "
                         "cannot pair them (68 iBUG, or 51 without the jaw line)")


def _pin_landmarks(X, W, targets):
    """X moved by a thin-plate spline that takes its landmarks W @ X onto ``targets``."""
    from scipy.interpolate import RBFInterpolator

    at = W @ X
    return X + RBFInterpolator(at, targets - at, kernel="thin_plate_spline", smoothing=1e-10)(X)


def register(source, target, smoothing=SMOOTHING, normal_only: bool = True) -> np.ndarray:
    """Vertices (V_source,3) of ``source``'s neutral mesh registered onto ``target``'s, in metres."""
    from facebench.geometry import MeshProximity, vertex_normals

    W_s, W_t = _paired_landmarks(source, target)
    L_t = W_t @ target.canonical_vertices
    s, R, t = umeyama(W_s @ source.canonical_vertices, L_t)
    X = s * source.canonical_vertices @ R.T + t
    X = _pin_landmarks(X, W_s, L_t)
    keep = np.isin(target.face_regions, DATA_REGIONS)
    sub_faces = target.faces[keep]
    proximity = MeshProximity(target.canonical_vertices, sub_faces)
    data = np.isin(source.regions, DATA_REGIONS)
    M = _averaging(source.faces, source.n_vertices)
    for steps in smoothing:
        hit = proximity.query(X)
        pull = hit.points - X
        if normal_only:  # tangential placement comes from the landmarks, not from sliding
            n = vertex_normals(X, source.faces)
            pull = n * np.einsum("ij,ij->i", pull, n)[:, None]
        w = (data & (np.linalg.norm(pull, axis=1) < MAX_PULL)).astype(np.float64)[:, None]
        num, den = pull * w, w.copy()
        for _ in range(steps):
            num, den = M @ num, M @ den
        X = X + num / np.maximum(den, 1e-9)
        X = _pin_landmarks(X, W_s, L_t)
    hit = proximity.query(X)
    near = data & (np.abs(hit.distance) < PROJECT_WITHIN)
    X[near] = hit.points[near]
    return X


def invert(forward: Correspondence) -> Correspondence:
    """The target -> source map of a registration: each target vertex's closest point on the
    registered source mesh (face, barycentrics, offset in the triangle frame) carried back to the
    source's canonical mesh.  A round trip source -> target -> source is then exact up to the
    interpolation between target vertices."""
    A, B = forward.source, forward.target
    c = A.to_canonical(B.canonical_vertices, forward.vertices, max_offset=np.inf)
    return Correspondence(B, A, A.denormalize(c))


def measure(forward: Correspondence, backward: Correspondence) -> dict:
    """Accuracy of a pair of correspondences A->B, B->A in millimetres.

    ``landmark_mm``: A's landmarks mapped into B vs B's landmarks (mean, max);
    ``round_trip_mm``: centroids of A's face-region triangles mapped A->B->A (mean, median, p95);
    ``surface_mm``: distance of mapped face/scalp/ears/neck vertices to B's surface (mean).
    """
    from facebench.geometry import closest_points

    A, B = forward.source, forward.target
    W_a, W_b = _paired_landmarks(A, B)
    lmk = W_a @ forward.vertices - W_b @ B.canonical_vertices
    lmk = np.linalg.norm(lmk, axis=1)
    tri = A.faces[A.face_regions == 1]
    x = A.canonical_vertices[tri].mean(1)
    back = A.denormalize(backward.convert(forward.convert(A.normalize(x))))
    rt = np.linalg.norm(back - x, axis=1)
    rt = rt[np.isfinite(rt)]
    data = np.isin(A.regions, DATA_REGIONS)
    surf = np.abs(closest_points(B.canonical_vertices, B.faces, forward.vertices[data]).distance)
    mm = lambda v: round(float(v) * 1000, 3)  # noqa: E731
    return {"landmark_mm": {"mean": mm(lmk.mean()), "max": mm(lmk.max())},
            "round_trip_mm": {"mean": mm(rt.mean()), "median": mm(np.median(rt)),
                              "p95": mm(np.percentile(rt, 95))},
            "surface_mm": {"mean": mm(surf.mean())}}


def _file_name(source, target) -> str:
    return f"{source.name}--{target.name}.npz"


def save(corr: Correspondence, path) -> Path:
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, vertices=corr.vertices.astype(np.float32), version=VERSION,
                            source=corr.source.name, target=corr.target.name,
                            source_sha256=corr.source.sha256, target_sha256=corr.target.sha256,
                            metrics=json.dumps(corr.metrics))
    tmp.replace(path)
    return path


def _load_file(path: Path, source, target) -> Correspondence | None:
    """The stored correspondence when it was made for exactly these two templates, else None."""
    import json

    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        if (int(z["version"]) != VERSION or str(z["source_sha256"]) != source.sha256
                or str(z["target_sha256"]) != target.sha256 or len(z["vertices"]) != source.n_vertices):
            return None
        return Correspondence(source, target, z["vertices"].astype(np.float64), json.loads(str(z["metrics"])))


def build_pair(a, b) -> tuple[Correspondence, Correspondence]:
    """(a -> b, b -> a): the template with fewer vertices is registered onto the other, and the
    reverse map is its inverse; both carry their measured ``metrics``."""
    small, large = (a, b) if a.n_vertices <= b.n_vertices else (b, a)
    forward = Correspondence(small, large, register(small, large))
    backward = invert(forward)
    forward.metrics, backward.metrics = measure(forward, backward), measure(backward, forward)
    forward.metrics["method"] = backward.metrics["method"] = f"{small.name} registered onto {large.name}"
    return (forward, backward) if small is a else (backward, forward)


def get_correspondence(source, target, cache_dir=None) -> Correspondence:
    """``source`` -> ``target`` canonical-space map (templates or names for ``facebench.templates.load``).

    Shipped data for the built-in pair; otherwise computed once (seconds) and cached under
    ``cache_dir`` (default ``$FACEBENCH_HOME/cache/correspondences``), keyed by both templates' sha256.
    """
    from facebench.settings import get_settings
    from facebench.templates import load

    source = load(source) if isinstance(source, str) else source
    target = load(target) if isinstance(target, str) else target
    found = _load_file(SHIPPED / _file_name(source, target), source, target)
    if found is not None:
        return found
    cache = Path(cache_dir) if cache_dir else get_settings().cache_dir / "correspondences"
    found = _load_file(cache / _cache_name(source, target), source, target)
    if found is not None:
        return found
    forward, backward = build_pair(source, target)
    save(forward, cache / _cache_name(source, target))
    save(backward, cache / _cache_name(target, source))
    return forward


def _cache_name(source, target) -> str:
    return f"{source.name}-{source.sha256[:12]}--{target.name}-{target.sha256[:12]}-v{VERSION}.npz"
