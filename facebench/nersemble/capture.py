"""One NeRSemble capture root: discovery, calibrated views, point clouds and tracking.

>>> cap = open_capture("/data/nersemble")                  # layout detected from disk
>>> for pid in cap.participants():
...     for seq in cap.sequences(pid):
...         for view in cap.iter_views(pid, seq, "222200037"):
...             view.image, view.alpha, view.depth, view.camera

Participants, sequences, cameras and frames all come from what is on disk.
Every missing or malformed file raises :class:`~facebench.errors.InputError`
naming it.  Video layouts keep a few ffmpeg decoders open so that reading frames in
ascending order decodes each video once; :meth:`Capture.close` (or ``with``) ends them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench.errors import InputError, did_you_mean
from facebench.nersemble import calibration as calib
from facebench.nersemble.images import VideoCursor, count_video_frames, read_alpha, read_depth, read_rgb
from facebench.nersemble.layout import Layout, detect_layout
from facebench.nersemble.pcd import read_pcd
from facebench.nersemble.select import FrameRange, parse_frames, select_names
from facebench.nersemble.tracking import load_tracking

_MAX_OPEN_VIDEOS = 32  # 16 cameras x (images + alpha maps): frame-major loops stay sequential


@dataclass(frozen=True, eq=False)
class View:
    """One camera at one frame.

    ``image`` uint8 (H,W,3), colour-corrected when the capture has a correction;
    ``alpha`` float32 (H,W) in [0,1] or None; ``depth`` float32 (H,W) z-depth in
    metres, NaN invalid, or None; ``camera`` a :class:`facebench.geometry.Camera`
    whose ``K`` matches the image size.
    """

    image: np.ndarray
    alpha: np.ndarray | None
    depth: np.ndarray | None
    camera: object
    frame_id: int
    serial: str


@dataclass(frozen=True)
class SequenceSelection:
    """What :meth:`Capture.select` picked in one sequence."""

    participant: str
    sequence: str
    serials: list[str]
    frame_ids: np.ndarray


class Capture:
    """Reader for one capture root in one layout; see the module docstring."""

    def __init__(self, root, layout: str, *, color_correction: bool = True, native_size=None):
        self.paths = Layout(Path(root), layout)
        self.native_size = None if native_size is None else (int(native_size[0]), int(native_size[1]))
        self.root = self.paths.root
        self.layout = layout
        self.color_correction = color_correction
        self._calibration: dict[str, calib.CameraParams] = {}
        self._color: dict[tuple, object] = {}
        self._frame_ids: dict[tuple, np.ndarray] = {}
        self._videos: OrderedDict[Path, VideoCursor] = OrderedDict()

    def __repr__(self) -> str:
        return f"Capture({str(self.root)!r}, layout={self.layout!r})"

    # --- discovery ---------------------------------------------------------------------
    def participants(self) -> list[str]:
        """Participant ids found under the root (folders with numeric names), sorted."""
        return self.paths.participants()

    def sequences(self, pid: str) -> list[str]:
        """Sequence names of a participant, sorted; ``BACKGROUND`` is not a sequence."""
        pid = self._participant(pid)
        return self.paths.sequences(pid)

    def cameras(self, pid: str, seq: str) -> list[str]:
        """Camera serials with images in a sequence, NeRSemble index order first."""
        pid, seq = self._sequence(pid, seq)
        if self.paths.is_video:
            folder = self.paths.sequence_dir(pid, seq) / "images"
        else:
            first = self.frame_ids(pid, seq)[0]
            folder = self.paths.frame_dir(pid, seq, first) / "images-2x-73fps"
        serials = self.paths.camera_files(folder)
        if not serials:
            raise InputError("empty sequence: no cam_{serial} images", folder)
        return serials

    def frame_ids(self, pid: str, seq: str) -> np.ndarray:
        """Frame ids (int32, ascending): v1 frame folders; videos 0..n-1 of the first camera."""
        pid, seq = self._sequence(pid, seq)
        key = (pid, seq)
        if key not in self._frame_ids:
            if self.paths.is_video:
                n = self._video_frame_count(pid, seq)
                ids = np.arange(n, dtype=np.int32)
            else:
                ids = np.asarray(self.paths.frame_dirs(pid, seq), dtype=np.int32)
            if len(ids) == 0:
                raise InputError("empty sequence: no frames", self.paths.sequence_dir(pid, seq))
            self._frame_ids[key] = ids
        return self._frame_ids[key]

    def _video_frame_count(self, pid: str, seq: str) -> int:
        """Frames in the sequence's videos; every camera's mp4 must have as many (else one line)."""
        counts = {s: count_video_frames(self.paths.image(pid, seq, 0, s)) for s in self.cameras(pid, seq)}
        n = max(counts.values(), key=list(counts.values()).count)  # the most common count
        odd = [s for s, c in counts.items() if c != n]
        if odd:
            path = self.paths.image(pid, seq, 0, odd[0])
            raise InputError(f"has {counts[odd[0]]} frames but the other cameras' videos of {pid}/{seq} have "
                             f"{n} (a truncated or out-of-sync video; {len(odd)} camera(s) differ)", path)
        return n

    def select(self, participants=None, sequences=None, cameras=None, frames=None,
               errors: list | None = None) -> list[SequenceSelection]:
        """Filter the capture: lists (or comma-separated strings) of names, ``frames`` "START:STOP:STEP".

        A sequence or camera name must exist in at least one selected participant;
        each participant keeps the names it has.  Sequences left with no frames or
        cameras are dropped.  With an ``errors`` list, a sequence whose frames or
        cameras cannot be listed (an empty sequence) is appended to it as
        ``(participant, sequence, InputError)`` and left out instead of raising.
        """
        pids = select_names(self.participants(), _pad_participants(participants), "participant")
        frame_range = frames if isinstance(frames, FrameRange) else parse_frames(frames)
        wanted_seqs = _as_list(sequences)
        wanted_cams = _as_list(cameras)
        all_seqs = sorted({s for pid in pids for s in self.sequences(pid)})
        select_names(all_seqs, wanted_seqs, "sequence")
        out, seen_cams = [], set()
        for pid in pids:
            for seq in self.sequences(pid):
                if wanted_seqs and seq not in wanted_seqs:
                    continue
                try:
                    serials = self.cameras(pid, seq)
                    ids = frame_range.select(self.frame_ids(pid, seq))
                except InputError as exc:
                    if errors is None:
                        raise
                    errors.append((pid, seq, exc))
                    continue
                seen_cams.update(serials)
                if wanted_cams:
                    serials = [s for s in serials if s in wanted_cams]
                if serials and len(ids):
                    out.append(SequenceSelection(pid, seq, serials, ids))
        select_names(sorted(seen_cams), wanted_cams, "camera")
        return out

    # --- calibration ---------------------------------------------------------------------
    def camera_params(self, pid: str) -> calib.CameraParams:
        """The participant's parsed ``camera_params.json`` (cached)."""
        pid = self._participant(pid)
        if pid not in self._calibration:
            self._calibration[pid] = calib.load_camera_params(self.paths.camera_params(pid),
                                                               self.native_size)
        return self._calibration[pid]

    def camera(self, pid: str, serial: str, width: int | None = None, height: int | None = None):
        """:class:`facebench.geometry.Camera` of ``serial`` for an image of ``width`` x ``height``.

        Without a size, the size the intrinsics refer to (the 2200 x 3208 sensor
        unless ``camera_params.json`` gives ``width``/``height``).
        """
        from facebench.geometry import Camera

        params = self.camera_params(pid)
        width = params.width if width is None else int(width)
        height = params.height if height is None else int(height)
        return Camera(params.K_for(serial, width, height), params.extrinsics(serial), width, height)

    def _color_affine(self, pid: str, seq: str, serial: str):
        if not self.color_correction:
            return None
        if self.paths.is_video:
            if pid not in self._color:
                self._color[pid] = calib.load_color_json(self.paths.color_calibration(pid, seq, serial))
            return self._color[pid].get(serial)
        key = (pid, seq, serial)
        if key not in self._color:
            self._color[key] = calib.load_color_npy(self.paths.color_calibration(pid, seq, serial))
        return self._color[key]

    # --- views ---------------------------------------------------------------------------
    def read_view(self, pid: str, seq: str, frame_id: int, serial: str) -> View:
        """Image (colour-corrected), alpha, depth and camera of one camera at one frame."""
        pid, seq = self._sequence(pid, seq)
        frame_id = int(frame_id)
        paths = self.paths
        if paths.is_video:
            image = self._video(paths.image(pid, seq, frame_id, serial)).read(frame_id)
        else:
            image = read_rgb(paths.image(pid, seq, frame_id, serial))
        affine = self._color_affine(pid, seq, serial)
        if affine is not None:
            image = calib.apply_color_correction(image, affine)
        height, width = image.shape[:2]

        alpha = None
        alpha_path = paths.alpha(pid, seq, frame_id, serial)
        if alpha_path is not None and alpha_path.is_file():
            if paths.is_video:
                alpha = self._video(alpha_path).read(frame_id)[:, :, 0].astype(np.float32) / np.float32(255)
            else:
                alpha = read_alpha(alpha_path)
            _check_size(alpha, (height, width), alpha_path, "alpha map")

        depth = None
        depth_path = paths.depth(pid, seq, frame_id, serial)
        if depth_path is not None and depth_path.is_file():
            depth = read_depth(depth_path)
            _check_size(depth, (height, width), depth_path, "depth map")
        return View(image, alpha, depth, self.camera(pid, serial, width, height), frame_id, serial)

    def iter_views(self, pid: str, seq: str, serial: str, frame_ids=None):
        """Yield :class:`View`\\ s of one camera for ``frame_ids`` (default: all frames).

        For videos, ascending ids decode each mp4 once, sequentially.
        """
        ids = self.frame_ids(pid, seq) if frame_ids is None else np.asarray(frame_ids, dtype=np.int64)
        for frame_id in ids:
            yield self.read_view(pid, seq, int(frame_id), serial)

    def _video(self, path: Path) -> VideoCursor:
        cursor = self._videos.pop(path, None) or VideoCursor(path)
        self._videos[path] = cursor
        while len(self._videos) > _MAX_OPEN_VIDEOS:
            self._videos.popitem(last=False)[1].close()
        return cursor

    # --- other assets --------------------------------------------------------------------
    def read_pointcloud(self, pid: str, seq: str, frame_id: int):
        """``(xyz (N,3) float32 world metres, normals (N,3) or None)``, or None without a point cloud."""
        pid, seq = self._sequence(pid, seq)
        path = self.paths.pointcloud(pid, seq, frame_id)
        if path is None or not path.is_file():
            return None
        return read_pcd(path)

    def tracking(self, pid: str, seq: str) -> dict[str, np.ndarray] | None:
        """FLAME 2023 tracking arrays (see :mod:`facebench.nersemble.tracking`), or None when absent."""
        pid, seq = self._sequence(pid, seq)
        path = self.paths.tracking(pid, seq)
        if path is None or not path.is_file():
            return None
        return load_tracking(path)

    def background(self, pid: str, serial: str) -> np.ndarray | None:
        """The static background image ``sequences/BACKGROUND/image_{serial}.jpg`` as stored, or None."""
        pid = self._participant(pid)
        path = self.paths.background(pid, serial)
        return read_rgb(path) if path.is_file() else None

    # --- housekeeping --------------------------------------------------------------------
    def close(self) -> None:
        """Stop any open video decoders."""
        while self._videos:
            self._videos.popitem()[1].close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):  # picklable for worker processes: open decoders stay behind
        state = self.__dict__.copy()
        state["_videos"] = OrderedDict()
        return state

    def _participant(self, pid) -> str:
        pid = _pad_participants([pid])[0]
        if not self.paths.participant_dir(pid).is_dir():
            hint = did_you_mean(pid, self.participants())
            raise InputError(f"no participant {pid}{hint}", self.root)
        return pid

    def _sequence(self, pid, seq: str) -> tuple[str, str]:
        pid = self._participant(pid)
        if not self.paths.sequence_dir(pid, seq).is_dir():
            hint = did_you_mean(seq, self.sequences(pid))
            raise InputError(f"no sequence {seq!r}{hint}", self.paths.participant_dir(pid) / "sequences")
        return pid, seq


def _check_size(array: np.ndarray, shape: tuple, path: Path, what: str) -> None:
    if array.shape[:2] != shape:
        raise InputError(
            f"{what} is {array.shape[1]}x{array.shape[0]} but the image is {shape[1]}x{shape[0]}", path
        )


def _as_list(names) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return [str(n) for n in names]


def _pad_participants(pids):
    """``17`` / ``"17"`` -> ``"017"`` (NeRSemble participant folders have 3 digits)."""
    return [f"{int(p):03d}" if str(p).strip().isdigit() else str(p) for p in _as_list(pids)]


def open_capture(root, layout: str | None = None, *, color_correction: bool = True,
                 native_size=None) -> Capture:
    """Open a NeRSemble capture root; ``layout`` "v1" | "v2" | "benchmark", or None to detect it.

    ``color_correction=False`` returns images as stored.  ``native_size`` (W, H): the image
    size the intrinsics refer to where ``camera_params.json`` does not say (default: the
    2200 x 3208 sensor).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("capture root is not a folder", root)
    return Capture(root, layout or detect_layout(root), color_correction=color_correction,
                   native_size=native_size)
