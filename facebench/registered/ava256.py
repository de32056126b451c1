"""Ava-256 (Martinez et al. 2024) captures as a :class:`RegisteredCapture`; see docs/AVA256.md.

Layout (the official ``facebookresearch/ava-256`` loader and DATASHEET), under ``root``::

    {mcd}--{mct}--{SID}/decoder/            (also m--{mcd}--{mct}--{SID}--GHS/decoder/)
        camera_calibration.json             {"KRT": [{"cameraId", "K", "T", "distortion"}]}
        frame_list.csv                      seg_id,frame_id
        head_pose/head_pose.zip             {frame:06d}.txt   3x4 head-to-world, millimetres
        image/cam{camera}.zip               cam{camera}/{frame:06d}.avif
        kinematic_tracking/registration_vertices.zip   {frame:06d}.ply   head frame, millimetres
        segmentation_parts/cam{camera}.zip  cam{camera}/{frame:06d}.png   labels (optional)
    face_topology.obj                       the registered topology (the repo's assets/), at the
                                            root or in a capture's decoder/ folder

Conversions to SPEC section 1, done here once:

* participant = the capture's subject id (``SID``); sequence = a ``seg_id`` of frame_list.csv;
* ``K`` is stored transposed (``K.T``) for the 2668 x 4096 sensor (``native_size`` states
  another size); it is rescaled to the image actually read with the pixel-centre rule
  (:meth:`Camera.rescaled`); an image of another aspect ratio is an error;
* ``T`` is stored as the transpose of the 4x4 world-to-camera matrix in millimetres
  (``T[:4, :3].T`` is OpenCV ``[R | t]``): ``T_cam_from_world = T.T`` with t / 1000;
* world vertices = ``head_pose @ [v, 1]`` of the registered vertices, / 1000 (metres);
* ``distortion`` is OpenCV ``k1 k2 p1 p2`` (k3 = 0); with ``undistort=True`` (default)
  images and masks are resampled to the pinhole camera returned by :meth:`camera`;
* mask = segmentation label not in {0 background, 3 chair}.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np

from facebench.errors import InputError, did_you_mean
from facebench.registered.capture import RegisteredCapture, RegisteredView
from facebench.registered.zipimages import (
    IMAGE_MAX_BYTES,
    MESH_MAX_BYTES,
    TEXT_MAX_BYTES,
    ZipArchive,
    decode_image,
    image_size,
)

SENSOR_WIDTH, SENSOR_HEIGHT = 2668, 4096
MM = 1e-3
NEUTRAL_SEGMENT = "EXP_neutral_peak"
TOPOLOGY = "face_topology.obj"
CAPTURE_RE = re.compile(r"^(?:m--)?(\d{8})--(\d{4})--([A-Za-z0-9]+?)(?:--GHS)?$")
IMAGE_EXTS = ("avif", "png", "jpg", "jpeg", "webp")
NOT_FOREGROUND = (0, 3)  # background, chair


def open_ava256(root, topology=None, undistort: bool = True, native_size=None) -> Ava256Capture:
    """Open an Ava-256 download folder (capture folders inside ``root``) or one capture folder.

    ``topology``: path of the registered topology OBJ (default: ``face_topology.obj`` in a
    capture's ``decoder/`` folder, else in ``root``).  ``undistort``: remove lens distortion
    from images and masks so that :meth:`camera` (a pinhole) describes them exactly.
    ``native_size`` (W, H): the image size the calibration's ``K`` refers to (default the
    2668 x 4096 sensor).
    """
    return Ava256Capture(root, topology, undistort, native_size)


class Ava256Capture(RegisteredCapture):
    dataset = "ava256"

    def __init__(self, root, topology=None, undistort: bool = True, native_size=None):
        self.root = Path(root)
        self.native_size = ((SENSOR_WIDTH, SENSOR_HEIGHT) if native_size is None
                            else (int(native_size[0]), int(native_size[1])))
        if not self.root.is_dir():
            raise InputError("Ava-256 folder does not exist", self.root)
        self.topology = Path(topology) if topology is not None else None
        self.undistort = undistort
        self._dirs: dict[str, Path] = {}
        single = CAPTURE_RE.match(self.root.name) and (self.root / "decoder").is_dir()
        for d in [self.root] if single else sorted(self.root.iterdir()):
            m = CAPTURE_RE.match(d.name)
            if m and (d / "decoder").is_dir():
                sid = m.group(3).upper()
                if sid in self._dirs:
                    raise InputError(f"two captures of subject {sid}: {self._dirs[sid].parent.name} "
                                     f"and {d.name}; keep one", self.root)
                self._dirs[sid] = d / "decoder"
        if not self._dirs:
            raise InputError("no Ava-256 capture folders ({mcd}--{mct}--{SID}/decoder/) found", self.root)
        self._archives: dict[Path, ZipArchive] = {}
        self._segments: dict[str, dict[str, np.ndarray]] = {}
        self._calib: dict[str, dict] = {}
        self._sizes: dict[tuple[str, str], tuple[int, int]] = {}
        self._faces: dict[str, np.ndarray] = {}
        self._n_vertices: dict[str, int] = {}
        self._maps: dict[tuple, object] = {}  # undistortion Remap per camera and size

    # -- files ------------------------------------------------------------------------------------

    def _dir(self, pid: str) -> Path:
        if pid not in self._dirs:
            raise InputError(f"no capture of participant {pid!r}{did_you_mean(pid, self._dirs)}", self.root)
        return self._dirs[pid]

    def _zip(self, path: Path) -> ZipArchive:
        if path not in self._archives:
            self._archives[path] = ZipArchive(path)
        return self._archives[path]

    def _frame_list(self, pid: str) -> dict[str, np.ndarray]:
        if pid not in self._segments:
            path = self._dir(pid) / "frame_list.csv"
            if not path.is_file():
                raise InputError("frame list not found", path)
            segments: dict[str, list[int]] = {}
            try:
                with open(path, newline="") as fh:
                    reader = csv.DictReader(fh)
                    if not {"seg_id", "frame_id"} <= set(reader.fieldnames or ()):
                        raise InputError(f"expected columns seg_id,frame_id, got {reader.fieldnames}", path)
                    for row in reader:
                        segments.setdefault(row["seg_id"].strip(), []).append(int(row["frame_id"]))
            except (ValueError, TypeError, AttributeError, UnicodeDecodeError, csv.Error) as exc:
                raise InputError(f"malformed frame list ({exc})", path) from None
            self._segments[pid] = {s: np.unique(np.asarray(f, np.int64)) for s, f in segments.items()}
        return self._segments[pid]

    def _calibration(self, pid: str) -> dict:
        if pid not in self._calib:
            self._calib[pid] = load_calibration(self._dir(pid) / "camera_calibration.json")
        return self._calib[pid]

    def _meshes(self, pid: str) -> ZipArchive:
        return self._zip(self._dir(pid) / "kinematic_tracking" / "registration_vertices.zip")

    # -- RegisteredCapture ------------------------------------------------------------------------

    def participants(self) -> list[str]:
        return sorted(self._dirs)

    def sequences(self, pid: str) -> list[str]:
        return sorted(self._frame_list(pid))

    def _segment(self, pid: str, seq: str) -> np.ndarray:
        segments = self._frame_list(pid)
        if seq not in segments:
            raise InputError(f"no segment {seq!r} in frame_list.csv{did_you_mean(seq, segments)}",
                             self._dir(pid))
        return segments[seq]

    def cameras(self, pid: str, seq: str) -> list[str]:
        self._segment(pid, seq)
        images = self._dir(pid) / "image"
        return sorted(n for n in self._calibration(pid) if (images / f"cam{n}.zip").is_file())

    def frame_ids(self, pid: str, seq: str) -> np.ndarray:
        names = self._meshes(pid).names()
        frames = self._segment(pid, seq)
        return frames[np.array([f"{f:06d}.ply" in names for f in frames], bool)] if len(frames) else frames

    def camera(self, pid: str, seq: str, name: str, width: int | None = None, height: int | None = None):
        from facebench.geometry.camera import camera_for_image

        calib = self._calibration(pid)
        if name not in calib:
            raise InputError(f"no camera {name!r} in the calibration{did_you_mean(name, calib)}",
                             self._dir(pid) / "camera_calibration.json")
        if width is None or height is None:
            width, height = self._stored_size(pid, seq, name)
        c = calib[name]
        return camera_for_image(c["K"], c["T_cam_from_world"], self.native_size, (width, height),
                                self._dir(pid) / "image" / f"cam{name}.zip",
                                "--native-size WxH (the image size the calibration's K refers to)")

    def _stored_size(self, pid: str, seq: str, name: str) -> tuple[int, int]:
        if (pid, name) not in self._sizes:
            archive = self._zip(self._dir(pid) / "image" / f"cam{name}.zip")
            members = sorted(archive.names())
            if not members:
                raise InputError("image archive is empty", archive.path)
            data = archive.read(members[0], IMAGE_MAX_BYTES)
            self._sizes[(pid, name)] = image_size(data, f"{archive.path}: {members[0]}")
        return self._sizes[(pid, name)]

    def _member(self, archive: ZipArchive, name: str, frame_id: int, exts) -> str | None:
        for ext in exts:
            for member in (f"cam{name}/{frame_id:06d}.{ext}", f"{frame_id:06d}.{ext}"):
                if archive.has(member):
                    return member
        return None

    def has_view(self, pid: str, seq: str, frame_id: int, name: str) -> bool:
        """Whether camera ``name`` has an image at ``frame_id`` (Ava-256 drops ~0.1% of frames).

        Not part of :class:`RegisteredCapture`: callers may skip dropped views with it."""
        archive = self._zip(self._dir(pid) / "image" / f"cam{name}.zip")
        return archive.exists() and self._member(archive, name, int(frame_id), IMAGE_EXTS) is not None

    def has_masks(self, pid: str, seq: str, name: str) -> bool:
        return (self._dir(pid) / "segmentation_parts" / f"cam{name}.zip").is_file()

    def read_view(self, pid: str, seq: str, frame_id: int, name: str) -> RegisteredView:
        frame_id = int(frame_id)
        archive = self._zip(self._dir(pid) / "image" / f"cam{name}.zip")
        member = self._member(archive, name, frame_id, IMAGE_EXTS)
        if member is None:
            raise InputError(f"frame {frame_id} is missing (no cam{name}/{frame_id:06d}.avif)", archive.path)
        image = decode_image(archive.read(member, IMAGE_MAX_BYTES), f"{archive.path}: {member}")
        height, width = image.shape[:2]
        camera = self.camera(pid, seq, name, width, height)
        mask = None
        seg = self._zip(self._dir(pid) / "segmentation_parts" / f"cam{name}.zip")
        if seg.exists():
            seg_member = self._member(seg, name, frame_id, ("png",))
            if seg_member is not None:
                labels = decode_image(seg.read(seg_member, IMAGE_MAX_BYTES), f"{seg.path}: {seg_member}",
                                      mode="label")
                if labels.shape != (height, width):
                    labels = _resize_nearest(labels, width, height)
                mask = (~np.isin(labels, NOT_FOREGROUND)).astype(np.float32)
        dist = self._calibration(pid)[name]["distortion"]
        if self.undistort and np.any(dist != 0):
            from facebench.registered.lens import Remap, distorted_pixels

            key = (pid, name, width, height)
            if key not in self._maps:
                self._maps[key] = Remap(distorted_pixels(camera.K, dist, width, height), height, width)
            image = self._maps[key](image)
            mask = self._maps[key](mask) if mask is not None else None
        return RegisteredView(image=image, mask=mask, depth=None, camera=camera, frame_id=frame_id,
                              camera_name=name)

    def head_pose(self, pid: str, frame_id: int) -> np.ndarray:
        """(4,4) head-to-world transform at ``frame_id``, metres (an extra, not in the interface)."""
        archive = self._zip(self._dir(pid) / "head_pose" / "head_pose.zip")
        member = f"{int(frame_id):06d}.txt"
        what = f"{archive.path}: {member}"
        data = archive.read(member, TEXT_MAX_BYTES)
        try:
            pose = np.loadtxt(io.BytesIO(data), dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise InputError(f"{what}: not a numeric 3x4 matrix ({exc})") from None
        if pose.shape not in ((3, 4), (4, 4)) or not np.all(np.isfinite(pose)):
            raise InputError(f"{what}: head pose has shape {pose.shape}, expected 3x4")
        T = np.eye(4)
        T[:3] = pose[:3]
        T[:3, 3] *= MM
        return T

    def keypoints_3d(self, pid: str, frame_id: int):
        """(ids (K,) int64, xyz_world (K,3) metres, inlier confidence sum (K,)) of the frame's 3D
        keypoints (``keypoints_3d/keypoints_3d.zip``, rows ``id x y z conf n_inliers`` in world
        millimetres), or None when the capture has none.  An extra, not in the interface."""
        from facebench.errors import ValidationError
        from facebench.io.safe_npz import array_from_npy, parse_npy

        archive = self._zip(self._dir(pid) / "keypoints_3d" / "keypoints_3d.zip")
        if not archive.exists():
            return None
        member = f"{int(frame_id):06d}.npy"
        what = f"{archive.path}: {member}"
        data = archive.read(member, TEXT_MAX_BYTES)
        try:
            shape, dtype, fortran, offset = parse_npy(data, what)
            if dtype.kind not in "fiu" or np.prod(shape) % 6:
                raise ValidationError(f"{what}: expected rows of 6 numbers, got {dtype} {shape}")
            rows = array_from_npy(data, shape, dtype, fortran, offset, what).reshape(-1, 6).astype(np.float64)
        except ValidationError as exc:
            raise InputError(str(exc)) from None
        return rows[:, 0].astype(np.int64), rows[:, 1:4] * MM, rows[:, 4]

    def mesh_vertices(self, pid: str, seq: str, frame_id: int) -> np.ndarray:
        from facebench.registered.meshfiles import read_ply_vertices

        member = f"{int(frame_id):06d}.ply"
        archive = self._meshes(pid)
        local = read_ply_vertices(archive.read(member, MESH_MAX_BYTES), f"{archive.path}: {member}")
        self.mesh_faces(pid)
        if len(local) != self._n_vertices[pid]:
            raise InputError(f"{archive.path}: {member} has {len(local)} vertices, the topology "
                             f"has {self._n_vertices[pid]}")
        T = self.head_pose(pid, frame_id)
        return (local * MM) @ T[:3, :3].T + T[:3, 3]

    def mesh_faces(self, pid: str) -> np.ndarray:
        from facebench.registered.meshfiles import read_obj_faces

        if pid not in self._faces:
            candidates = [self.topology] if self.topology else [self._dir(pid) / TOPOLOGY,
                                                                 self.root / TOPOLOGY]
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                raise InputError(f"registered-mesh topology not found: copy the ava-256 repository's "
                                 f"assets/{TOPOLOGY} there (or pass topology=)", candidates[-1])
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"unreadable topology ({exc})", path) from None
            self._faces[pid], self._n_vertices[pid] = read_obj_faces(text, str(path))
        return self._faces[pid]

    def neutral_frame(self, pid: str) -> tuple[str, int]:
        seqs = self.sequences(pid)
        order = ([NEUTRAL_SEGMENT] if NEUTRAL_SEGMENT in seqs else []) + \
            [s for s in seqs if "neutral" in s.lower() and s != NEUTRAL_SEGMENT] + \
            [s for s in seqs if "neutral" not in s.lower()]
        for seq in order:
            frames = self.frame_ids(pid, seq)
            if len(frames):
                return seq, int(frames[0])
        raise InputError("no frame of any segment has a registered mesh", self._meshes(pid).path)

    def close(self) -> None:
        for archive in self._archives.values():
            archive.close()


def _resize_nearest(labels: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(labels).resize((width, height), Image.NEAREST))


def load_calibration(path: Path) -> dict[str, dict]:
    """``camera_calibration.json`` -> {camera: {"K" (3,3) sensor pixels, "T_cam_from_world" (4,4)
    metres, "distortion" (5,)}}; errors name the file and the camera."""
    if not path.is_file():
        raise InputError("camera calibration not found", path)
    try:
        entries = json.loads(path.read_text())["KRT"]
        if not isinstance(entries, list) or not entries:
            raise TypeError("'KRT' is not a non-empty list")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"malformed camera calibration ({exc.__class__.__name__}: {exc})", path) from None
    cameras = {}
    for item in entries:
        try:
            name = str(item["cameraId"])
            K = np.asarray(item["K"], dtype=np.float64).T
            T = np.asarray(item["T"], dtype=np.float64).T
            dist = np.asarray(list(item.get("distortion", [])) + [0.0] * 5, dtype=np.float64)[:5]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed calibration entry ({exc.__class__.__name__}: {exc})", path) from None
        if K.shape != (3, 3) or T.shape != (4, 4) or not (np.all(np.isfinite(K)) and np.all(np.isfinite(T))):
            raise InputError(f"camera {name}: K must be 3x3 and T 4x4 finite matrices", path)
        from facebench.geometry.camera import check_intrinsics

        check_intrinsics(K, path, f"camera {name}: K (stored transposed, read as K.T)")
        R = T[:3, :3]
        if not np.allclose(T[3], [0, 0, 0, 1], atol=1e-6) or not np.allclose(R @ R.T, np.eye(3), atol=1e-4) \
                or np.linalg.det(R) < 0:
            raise InputError(f"camera {name}: T is not a rotation plus translation", path)
        T = T.copy()
        T[:3, 3] *= MM
        cameras[name] = {"K": K, "T_cam_from_world": T, "distortion": dist}
    return cameras
