"""Multiface captures (facebookresearch/multiface) as a :class:`RegisteredCapture`.

On-disk layout of one capture (what the official ``download_dataset.py`` unpacks;
``documentation/DATA_STRUCTURE.md``)::

    m--{date}--{time}--{ID}--GHS/KRT
    m--{date}--{time}--{ID}--GHS/images/{EXP}/{cam}/{frame:06d}.png
    m--{date}--{time}--{ID}--GHS/tracked_mesh/{EXP}/{frame:06d}.bin      float32 (7306*3,)
    m--{date}--{time}--{ID}--GHS/tracked_mesh/{EXP}/{frame:06d}.obj      same vertices + faces, uvs
    m--{date}--{time}--{ID}--GHS/tracked_mesh/{EXP}/{frame:06d}_transform.txt   head pose (3,4)

``ROOT`` is one capture folder (it holds ``KRT``) or a folder of them; the participant
id is the ``{ID}`` field of the folder name (the whole name when it has no such field).

Conventions, converted on read (SPEC section 1):

* ``KRT``: per camera a name line, ``K`` (3 lines), distortion (1 line, ignored as by the
  official loader), extrinsics ``[R | t]`` (3 lines, world -> camera, OpenCV, millimetres),
  a blank line.  ``T_cam_from_world = [R | t / 1000]``; ``K`` refers to Multiface's native
  1334 x 2048 (W x H) images (``native_size`` states another size) and is rescaled to the
  image read with the pixel-centre rule; an image of another aspect ratio is an error.
* Tracked meshes are in the head's frame, millimetres; the head pose ``[R_f | t_f]`` of the
  frame takes them to the world (``world = R_f v + t_f``, as ``dataset.py`` builds its
  projection ``K [R_C R_f | R_C t_f + t_C]``); vertices are returned in world metres.
  Vertices come from the ``.bin`` (fast) or, without it, from the ``.obj``; faces from the
  first ``.obj`` of the capture (polygons fan-split into triangles).
* No masks or depth maps: views have ``mask=None``, ``depth=None``.
* Neutral frame: the first frame of the first expression whose name contains ``Neutral``
  (Multiface's ``E001_Neutral_Eyes_Open``), else of the first expression.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from facebench.errors import InputError
from facebench.registered.capture import RegisteredCapture, RegisteredView

MM = 1e-3
NATIVE_SIZE = (1334, 2048)  # (W, H) of the released images, which KRT's intrinsics refer to
_FRAME = re.compile(r"^(\d+)\.(bin|obj)$")


def open_multiface(root, native_size=None) -> RegisteredCapture:
    """The Multiface capture(s) under ``root`` (a capture folder or a folder of them).

    ``native_size`` (W, H): the image size KRT's intrinsics refer to (default 1334 x 2048).
    """
    return MultifaceCapture(root, native_size)


def read_krt(path) -> dict:
    """``{name: (K (3,3), distortion (n,), Rt (3,4) world->camera in millimetres)}``."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read camera file ({exc.strerror or exc})", path) from None
    cameras, i = {}, 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        name = lines[i].strip()
        block = lines[i + 1:i + 8]
        try:
            rows = [[float(x) for x in line.split()] for line in block]
            K, dist, Rt = np.array(rows[0:3]), np.array(rows[3]), np.array(rows[4:7])
            if len(block) < 7 or K.shape != (3, 3) or Rt.shape != (3, 4):
                raise ValueError
        except (ValueError, IndexError):
            raise InputError(f"malformed camera block {name!r} (line {i + 1}): expected K (3 lines), "
                             "distortion (1 line), extrinsics (3 lines of 4 numbers)", path) from None
        if not (np.isfinite(K).all() and np.isfinite(Rt).all()):
            raise InputError(f"non-finite values in camera {name!r}", path)
        from facebench.geometry.camera import check_intrinsics

        check_intrinsics(K, path, f"camera {name!r}: K")
        R = Rt[:, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise InputError(f"camera {name!r}: the extrinsics' left 3x3 is not a rotation", path)
        cameras[name] = (K, dist, Rt)
        i += 8
    if not cameras:
        raise InputError("no cameras in the camera file", path)
    return cameras


def read_obj(path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V,3) float64, triangles (F,3) int64) of an OBJ file; polygons fan-split."""
    from facebench.registered.meshfiles import read_obj as parse_obj

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read mesh ({exc.strerror or exc})", path) from None
    return parse_obj(text, str(path))


def read_pose(path) -> np.ndarray:
    """Head pose (3,4) ``[R | t]`` (t in millimetres) from a ``{frame}_transform.txt``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("head pose file not found (tracked meshes are in the head's frame)", path)
    try:
        pose = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise InputError(f"malformed head pose ({exc})", path) from None
    if pose.shape not in ((3, 4), (4, 4)) or not np.isfinite(pose).all():
        raise InputError(f"head pose must be a 3x4 matrix, got {pose.shape}", path)
    return pose[:3]


class MultifaceCapture(RegisteredCapture):
    """Reader of the layout above; see the module docstring for conventions."""

    dataset = "multiface"

    def __init__(self, root, native_size=None):
        self.root = Path(root)
        self.native_size = NATIVE_SIZE if native_size is None else (int(native_size[0]), int(native_size[1]))
        if not self.root.is_dir():
            raise InputError("not a folder", self.root)
        dirs = [self.root] if (self.root / "KRT").is_file() else sorted(
            d for d in self.root.iterdir() if d.is_dir() and (d / "KRT").is_file())
        if not dirs:
            raise InputError("no Multiface capture here (a folder with a KRT camera file, or folders "
                             "m--{date}--{time}--{ID}--GHS holding one)", self.root)
        self._dirs = {}
        for d in dirs:
            pid = participant_id(d.name)
            if pid in self._dirs:
                raise InputError(f"two captures of participant {pid}: {self._dirs[pid].name}, {d.name}", d)
            self._dirs[pid] = d
        self._files: dict = {}  # (pid, seq) -> {frame id: mesh file}
        self._sizes: dict = {}  # (pid, seq, camera) -> stored image (width, height)

    # -- names ---------------------------------------------------------------------------------------
    def _dir(self, pid: str) -> Path:
        if pid not in self._dirs:
            raise InputError(f"no participant {pid!r} (have {', '.join(sorted(self._dirs))})", self.root)
        return self._dirs[pid]

    def participants(self) -> list[str]:
        return sorted(self._dirs)

    def sequences(self, pid: str) -> list[str]:
        meshes = self._dir(pid) / "tracked_mesh"
        if not meshes.is_dir():
            raise InputError("no tracked_mesh folder", meshes)
        return sorted(d.name for d in meshes.iterdir() if d.is_dir() and not d.name.startswith("."))

    def cameras(self, pid: str, seq: str) -> list[str]:
        folder = self._dir(pid) / "images" / seq
        krt = self._krt(pid)
        if not folder.is_dir():  # meshes without images (a partial download)
            return []
        return sorted(d.name for d in folder.iterdir() if d.is_dir() and d.name in krt)

    def frame_ids(self, pid: str, seq: str) -> np.ndarray:
        return np.asarray(sorted(self._frame_files(pid, seq)), np.int64)

    def _frame_files(self, pid: str, seq: str) -> dict:
        if (pid, seq) not in self._files:
            self._files[(pid, seq)] = _frame_files(self._dir(pid) / "tracked_mesh" / seq)
        return self._files[(pid, seq)]

    def neutral_frame(self, pid: str) -> tuple[str, int]:
        seqs = self.sequences(pid)
        if not seqs:
            raise InputError("no expression folders in tracked_mesh", self._dir(pid))
        seq = next((s for s in seqs if "neutral" in s.lower()), seqs[0])
        ids = self.frame_ids(pid, seq)
        if not len(ids):
            raise InputError("no tracked meshes", self._dir(pid) / "tracked_mesh" / seq)
        return seq, int(ids[0])

    # -- cameras and views ---------------------------------------------------------------------------
    def _krt(self, pid: str) -> dict:
        path = self._dir(pid) / "KRT"
        try:  # keyed by modification time too: a KRT corrected in place is read again
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        return _read_krt_cached(str(path), stamp)

    def _image_path(self, pid, seq, frame_id, name) -> Path:
        return self._dir(pid) / "images" / seq / name / f"{int(frame_id):06d}.png"

    def _stored_size(self, pid, seq, name) -> tuple[int, int]:
        if (pid, seq, name) not in self._sizes:
            self._sizes[(pid, seq, name)] = self._first_image_size(pid, seq, name)
        return self._sizes[(pid, seq, name)]

    def _first_image_size(self, pid, seq, name) -> tuple[int, int]:
        folder = self._dir(pid) / "images" / seq / name
        first = next(iter(sorted(folder.glob("*.png"))), None)
        if first is None:
            raise InputError("no images for this camera", folder)
        from PIL import Image

        try:
            with Image.open(first) as img:
                return img.size
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"unreadable image ({exc})", first) from None

    def camera(self, pid: str, seq: str, name: str, width: int | None = None, height: int | None = None):
        from facebench.geometry.camera import camera_for_image

        krt = self._krt(pid)
        if name not in krt:
            raise InputError(f"camera {name!r} is not in the camera file", self._dir(pid) / "KRT")
        K, _, Rt = krt[name]
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = Rt[:, :3], Rt[:, 3] * MM
        size = (width, height) if width is not None and height is not None \
            else self._stored_size(pid, seq, name)
        return camera_for_image(K, T, self.native_size, size, self._dir(pid) / "images" / seq / name,
                                "--native-size WxH (the image size KRT's intrinsics refer to)")

    def has_view(self, pid: str, seq: str, frame_id: int, name: str) -> bool:
        return self._image_path(pid, seq, frame_id, name).is_file()

    def read_view(self, pid: str, seq: str, frame_id: int, name: str) -> RegisteredView:
        from facebench.nersemble.images import read_rgb

        image = read_rgb(self._image_path(pid, seq, frame_id, name))
        cam = self.camera(pid, seq, name, image.shape[1], image.shape[0])
        return RegisteredView(image=image, mask=None, depth=None, camera=cam, frame_id=int(frame_id),
                              camera_name=name)

    # -- meshes --------------------------------------------------------------------------------------
    def mesh_faces(self, pid: str) -> np.ndarray:
        return self._topology(pid)[1]

    def _topology(self, pid: str):
        meshes = self._dir(pid) / "tracked_mesh"
        obj = next((p for seq in self.sequences(pid) for p in sorted((meshes / seq).glob("*.obj"))), None)
        if obj is None:
            raise InputError("no .obj mesh (the topology is read from one)", meshes)
        return _read_obj_cached(str(obj))

    def mesh_vertices(self, pid: str, seq: str, frame_id: int) -> np.ndarray:
        files = self._frame_files(pid, seq)
        if int(frame_id) not in files:
            raise InputError(f"no tracked mesh for frame {int(frame_id)}",
                             self._dir(pid) / "tracked_mesh" / seq)
        path = files[int(frame_id)]
        n = len(self._topology(pid)[0])
        if path.suffix == ".bin":
            try:
                raw = np.fromfile(path, dtype="<f4")
            except OSError as exc:
                raise InputError(f"cannot read mesh ({exc.strerror or exc})", path) from None
            if raw.size != 3 * n:
                raise InputError(f"expected {n} vertices ({12 * n} bytes), got {path.stat().st_size} bytes",
                                 path)
            v = raw.reshape(-1, 3).astype(np.float64)
        else:
            v = read_obj(path)[0]
            if len(v) != n:
                raise InputError(f"expected {n} vertices (the capture's topology), got {len(v)}", path)
        if not np.isfinite(v).all():
            raise InputError("non-finite vertex coordinates", path)
        pose = read_pose(path.with_name(f"{path.stem}_transform.txt"))
        return (v @ pose[:, :3].T + pose[:, 3]) * MM


def participant_id(folder_name: str) -> str:
    """``m--20180227--0000--6795937--GHS`` -> ``6795937``; other names are kept whole."""
    parts = folder_name.split("--")
    return parts[3] if len(parts) >= 5 and parts[0] == "m" else folder_name


def _frame_files(folder: Path) -> dict:
    """{frame id: mesh file} of one expression, ``.bin`` preferred over ``.obj``."""
    if not folder.is_dir():
        raise InputError("no tracked meshes for this expression", folder)
    out: dict = {}
    for p in folder.iterdir():
        m = _FRAME.match(p.name)
        if m and (m.group(2) == "bin" or int(m.group(1)) not in out):
            out[int(m.group(1))] = p
    return out


@lru_cache(maxsize=16)
def _read_krt_cached(path: str, stamp=None) -> dict:
    return read_krt(path)


@lru_cache(maxsize=4)
def _read_obj_cached(path: str):
    v, f = read_obj(path)
    if not len(f):
        raise InputError("the mesh has no faces", path)
    return v, f
