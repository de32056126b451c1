"""FLAME from the user's own pickle, without chumpy, and tracking files -> meshes.

The official ``generic_model.pkl`` / ``flame2023.pkl`` are Python-2 pickles whose
arrays are ``chumpy`` objects and whose ``J_regressor`` is a scipy sparse matrix.
:class:`_RestrictedUnpickler` maps every chumpy class to a plain holder (converted
to numpy afterwards), rebuilds sparse matrices from their raw fields, allows the
numpy reconstruction functions, and refuses every other class, so loading a
pickle cannot run foreign code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from facebench.errors import FacebenchError, InputError

FLAME_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
N_FLAME_SHAPE = 300
_SPARSE = ("csc_matrix", "csr_matrix", "coo_matrix")


class _Holder:
    """Stands in for a chumpy or scipy.sparse object; keeps its pickled state."""

    kind = "chumpy"

    def __setstate__(self, state):
        self.state = state


class _SparseHolder(_Holder):
    kind = "sparse"


def _reconstructor(cls, base, state):
    if cls not in _HOLDERS or base is not object:
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return cls.__new__(cls)


def _holder_class(module, name):
    return type(name, (_Holder,), {"module": module})


_HOLDERS: set = set()


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "chumpy" or module.startswith("chumpy."):
            cls = _holder_class(module, name)
            _HOLDERS.add(cls)
            return cls
        if module.startswith("scipy.sparse") and name in _SPARSE:
            cls = type(name, (_SparseHolder,), {"module": module})
            _HOLDERS.add(cls)
            return cls
        if (module, name) in (("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")):
            return _reconstructor
        if module in ("builtins", "__builtin__") and name in ("object", "set", "frozenset", "list",
                                                              "dict", "tuple", "slice"):
            import builtins

            return getattr(builtins, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct",
                                                                                     "scalar"):
            return getattr(_numpy_core("multiarray"), name)
        if (module, name) == ("_codecs", "encode"):  # bytes in protocol-2 pickles written by Python 3
            import codecs

            return codecs.encode
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return _numpy_core("numeric")._frombuffer
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a FLAME file")


def _numpy_core(name):
    import importlib

    try:
        return importlib.import_module(f"numpy._core.{name}")
    except ImportError:  # numpy < 2
        return importlib.import_module(f"numpy.core.{name}")


def restricted_load(fileobj):
    """Unpickle a (Python-2, latin1) FLAME file with the restricted class set."""
    try:
        return _RestrictedUnpickler(fileobj, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as exc:
        raise FacebenchError(f"cannot read FLAME file: {exc}") from exc


def to_numpy(obj):
    """Convert unpickled holders (chumpy arrays, sparse matrices) into numpy arrays."""
    if isinstance(obj, _Holder):
        state = obj.state if isinstance(obj.state, dict) else {}
        if obj.kind == "sparse":
            import scipy.sparse

            shape = state.get("_shape", state.get("shape"))
            if "indptr" in state:
                csc = type(obj).__name__ == "csc_matrix"
                cls = scipy.sparse.csc_matrix if csc else scipy.sparse.csr_matrix
                matrix = cls((state["data"], state["indices"], state["indptr"]), shape=shape)
            else:
                matrix = scipy.sparse.coo_matrix((state["data"], (state["row"], state["col"])), shape=shape)
            return matrix.toarray()
        if "x" in state:
            return np.asarray(to_numpy(state["x"]))
        if "a" in state and type(obj).__name__ == "transpose":
            return np.transpose(to_numpy(state["a"]), state.get("axes"))
        raise FacebenchError(f"unsupported chumpy object {type(obj).__name__} in FLAME file")
    if isinstance(obj, dict):
        return {k: to_numpy(v) for k, v in obj.items()}
    return obj


def read_flame_pickle(path) -> dict:
    """The FLAME model dict with numpy arrays (keys as in the official pickle)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("FLAME model file not found (download it from flame.is.tue.mpg.de)", path)
    with open(path, "rb") as fh:
        raw = restricted_load(fh)
    if not isinstance(raw, dict):
        raise InputError("not a FLAME model pickle (expected a dict)", path)
    missing = [k for k in FLAME_KEYS if k not in raw]
    if missing:
        raise InputError(f"not a FLAME model pickle: missing keys {', '.join(missing)}", path)
    return {k: to_numpy(raw[k]) for k in FLAME_KEYS}  # other entries (chumpy expressions) are unused


def read_landmark_embedding(path):
    """(face_id (L,), barycentric (L,3)) from a FLAME landmark embedding file.

    Accepts .npz / .npy / .pkl holding ``full_lmk_faces_idx``/``full_lmk_bary_coords``
    (68 points), ``lmk_face_idx``/``lmk_b_coords`` or
    ``static_lmk_faces_idx``/``static_lmk_bary_coords`` (51 points, no jaw line)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("landmark embedding file not found", path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    elif path.suffix == ".npy":
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = np.lib.format._read_array_header(fh, version)
            if dtype.hasobject:
                data = to_numpy(restricted_load(fh))
                data = data.item() if isinstance(data, np.ndarray) else data
            else:
                raise InputError("expected a dict of landmark arrays", path)
    else:
        with open(path, "rb") as fh:
            data = to_numpy(restricted_load(fh))
    for f_key, b_key in (("full_lmk_faces_idx", "full_lmk_bary_coords"), ("lmk_face_idx", "lmk_b_coords"),
                         ("static_lmk_faces_idx", "static_lmk_bary_coords")):
        if isinstance(data, dict) and f_key in data and b_key in data:
            face_id = np.asarray(data[f_key], dtype=np.int64).reshape(-1)
            return face_id, np.asarray(data[b_key], dtype=np.float64).reshape(len(face_id), 3)
    raise InputError("no landmark arrays (lmk_face_idx/lmk_b_coords, static_lmk_*, full_lmk_*)", path)


def flame_arrays(data: dict) -> dict:
    """Template arrays (facebench names) from a FLAME model dict."""
    shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)
    n_total = shapedirs.shape[2]
    n_shape = N_FLAME_SHAPE if n_total > N_FLAME_SHAPE else n_total
    parents = np.asarray(data["kintree_table"], dtype=np.int64)[0].copy()
    parents[0] = -1
    regressor = data["J_regressor"]
    regressor = np.asarray(regressor.toarray() if hasattr(regressor, "toarray") else regressor, np.float64)
    v = np.asarray(data["v_template"], dtype=np.float64)
    faces = np.asarray(data["f"], dtype=np.int64)
    weights = np.asarray(data["weights"], dtype=np.float64)
    regions = flame_regions(v, faces, weights, regressor @ v)
    face = regions == 1
    lo, hi = v[face].min(0), v[face].max(0)
    center = 0.5 * (lo + hi)
    scale = 1.04 * float(np.max(hi - center))
    return {
        "canonical_vertices": v, "faces": faces, "identity_basis": shapedirs[:, :, :n_shape],
        "expression_basis": shapedirs[:, :, n_shape:], "joint_regressor": regressor, "parents": parents,
        "lbs_weights": weights, "posedirs": np.asarray(data["posedirs"], dtype=np.float64),
        "center": center, "scale": scale, "regions": regions,
    }


def flame_regions(v, faces, weights, joints) -> np.ndarray:
    """Region labels for FLAME from a geometric rule (docs/TEMPLATES.md, "FLAME regions").

    Units: ``s`` = distance between the two eye joints; offsets from their midpoint."""
    from facebench.geometry import vertex_normals

    eye_l, eye_r = joints[3], joints[4]
    s = float(np.linalg.norm(eye_l - eye_r))
    rel = (v - 0.5 * (eye_l + eye_r)) / s
    x, y, z = rel[:, 0], rel[:, 1], rel[:, 2]
    regions = np.ones(len(v), np.uint8)
    regions[(y > 0.9) | (z < -1.0)] = 2
    regions[(np.abs(x) > 1.2) & (z < -0.9) & (z > -2.0) & (y > -1.2) & (y < 0.4)] = 3
    regions[((y < -1.2) & (z < -0.5)) | (y < -2.1)] = 4
    normal_z = vertex_normals(v, faces)[:, 2]
    regions[(np.abs(x) < 0.5) & (y > -1.6) & (y < -0.9) & (z > -0.8) & (normal_z < -0.2)] = 6
    if weights.shape[1] >= 5:
        regions[np.argmax(weights, axis=1) >= 3] = 5
    return regions


def load_flame(path, landmarks=None):
    """A :class:`~facebench.templates.Template` from a FLAME pickle (+ optional landmarks)."""
    from facebench.templates.template import Template

    arrays = flame_arrays(read_flame_pickle(path))
    if landmarks:
        arrays["landmark_face_id"], arrays["landmark_barycentric"] = read_landmark_embedding(landmarks)
    template = Template("flame", arrays)
    template.source = str(path)
    template.identity_names = [f"shape_{k:03d}" for k in range(template.n_identity)]
    template.expression_names = [f"expression_{k:03d}" for k in range(template.n_expression)]
    template.joint_names = ["root", "neck", "jaw", "left_eye", "right_eye"][: len(template.parents)]
    return template


def tracking_to_vertices(template, tracking, frames=None) -> np.ndarray:
    """World-space meshes (T,V,3) from a NeRSemble-style tracking npz (SPEC section 3).

    ``tracking``: a path or a dict with ``shape`` (1,S), ``expression`` (T,E),
    ``rotation_matrices`` (T,3,3) (or ``rotation`` (T,3) XYZ Euler radians, i.e.
    R = Rz @ Ry @ Rx), ``translation`` (T,3), ``jaw``/``neck`` (T,3), ``eyes``
    (T,6), ``scale`` (1,1).  Coefficient vectors longer than the template's are
    truncated, shorter ones zero-padded.  ``frames``: optional indices into T."""
    from scipy.spatial.transform import Rotation

    data = _tracking_dict(tracking)
    sel = slice(None) if frames is None else np.asarray(frames)
    if "rotation_matrices" in data:
        rot_m = np.asarray(data["rotation_matrices"], dtype=np.float64)[sel]
    elif "rotation" in data:
        rot_m = Rotation.from_euler("xyz", np.asarray(data["rotation"], np.float64)[sel]).as_matrix()
    else:
        raise InputError("tracking has neither rotation_matrices nor rotation")
    n_frames = len(rot_m)

    def per_frame(key, size):
        if key not in data:
            return np.zeros((n_frames, size))
        a = np.asarray(data[key], dtype=np.float64)
        a = a.reshape(-1, a.shape[-1])
        a = a[sel] if a.shape[0] > 1 else np.repeat(a, n_frames, axis=0)
        return a[:, :size]

    return template.deform(
        identity=per_frame("shape", template.n_identity),
        expression=per_frame("expression", template.n_expression),
        neck=per_frame("neck", 3), jaw=per_frame("jaw", 3), eyes=per_frame("eyes", 6),
        rotation=Rotation.from_matrix(rot_m).as_rotvec(),
        translation=per_frame("translation", 3),
        scale=np.asarray(data.get("scale", 1.0), dtype=np.float64).reshape(-1)[:1].repeat(n_frames),
    ).reshape(n_frames, -1, 3)


def _tracking_dict(tracking) -> dict:
    if isinstance(tracking, dict):
        return tracking
    path = Path(tracking)
    if not path.is_file():
        raise InputError("tracking file not found", path)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
