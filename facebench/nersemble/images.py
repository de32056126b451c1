"""Reading NeRSemble image files: RGB and alpha PNG/JPG, 16-bit depth PNGs, mp4 videos.

Every reader raises :class:`~facebench.errors.InputError` naming the file when it is
missing, truncated or not an image, so that a bad file in a capture of thousands
costs one line, not a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.errors import InputError

# NeRSemble depth PNGs: q = 0 invalid, else depth = (q - 1) / DEPTH_UNITS_PER_METRE.
DEPTH_UNITS_PER_METRE = (2**16 - 2) / 2


def _open_image(path: Path) -> np.ndarray:
    """Decode an image file fully (a truncated file fails here, not later)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(img, dtype=np.uint16)
            if img.mode == "I":
                return np.asarray(img).astype(np.int64)
            if img.mode not in ("RGB", "RGBA", "L", "LA"):
                img = img.convert("RGB")
            return np.asarray(img)
    except UnidentifiedImageError:
        raise InputError("not an image file", path) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"unreadable or truncated image ({exc})", path) from None


def read_rgb(path) -> np.ndarray:
    """An RGB image as uint8 (H, W, 3); grey images are replicated, alpha dropped."""
    array = _open_image(path)
    if array.dtype != np.uint8:
        raise InputError(f"expected an 8-bit RGB image, got {array.dtype}", path)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def read_alpha(path) -> np.ndarray:
    """An alpha map as float32 (H, W) in [0, 1]: grey, first channel of RGB, 8 or 16 bit."""
    array = _open_image(path)
    scale = 65535.0 if array.dtype == np.uint16 or array.max(initial=0) > 255 else 255.0
    if array.ndim == 3:
        array = array[:, :, 0]
    return (array.astype(np.float32) / np.float32(scale)).clip(0, 1)


def decode_depth(q) -> np.ndarray:
    """NeRSemble 16-bit depth codes to metres (float32), NaN where ``q == 0``."""
    q = np.asarray(q)
    depth = (q.astype(np.float64) - 1.0) / DEPTH_UNITS_PER_METRE
    return np.where(q == 0, np.nan, depth).astype(np.float32)


def encode_depth(depth_m) -> np.ndarray:
    """Inverse of :func:`decode_depth`: metres to uint16 codes (NaN, <= 0 or > 2 m -> 0)."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    q = np.rint(np.where(valid, depth_m, 0) * DEPTH_UNITS_PER_METRE) + 1
    valid &= q <= 65535
    return np.where(valid, q, 0).astype(np.uint16)


def read_depth(path) -> np.ndarray:
    """A 16-bit NeRSemble depth PNG as float32 metres (H, W), NaN invalid."""
    array = _open_image(path)
    if array.ndim != 2 or array.dtype == np.uint8:
        raise InputError(f"expected a single-channel 16-bit depth PNG, got {array.dtype} {array.shape}", path)
    return decode_depth(array)


def _last_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


class VideoCursor:
    """Sequential frame access to one mp4, reopened only when asked to go backwards.

    ``read(i)`` after ``read(j)`` with ``i > j`` decodes only the frames in between,
    so reading frames in ascending order decodes the video once.  Starting at frame
    ``i > 0`` skips the first ``i`` frames inside ffmpeg (no copy to Python).
    """

    def __init__(self, path):
        self.path = Path(path)
        self._frames = None
        self._next = 0
        self._size = None

    def _open(self, start: int) -> None:
        import imageio_ffmpeg

        self.close()
        if not self.path.is_file():
            raise InputError("video not found", self.path)
        params = ["-vf", f"select=gte(n\\,{start})", "-fps_mode", "passthrough"] if start else None
        frames = imageio_ffmpeg.read_frames(str(self.path), output_params=params)
        try:
            meta = next(frames)
        except (OSError, RuntimeError, StopIteration) as exc:
            frames.close()
            raise InputError(f"unreadable video ({_last_line(exc)})", self.path) from None
        self._size = tuple(meta["size"])  # (W, H)
        self._frames = frames
        self._next = start

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as uint8 (H, W, 3)."""
        if self._frames is None or index < self._next:
            self._open(index)
        width, height = self._size
        while True:
            try:
                raw = next(self._frames)
            except StopIteration:
                self.close()
                count = count_video_frames(self.path)
                raise InputError(f"video has no frame {index} (it has {count} frames)", self.path) from None
            except (OSError, RuntimeError) as exc:
                self.close()
                raise InputError(f"unreadable video ({exc})", self.path) from None
            current = self._next
            self._next += 1
            if current == index:
                if len(raw) != width * height * 3:
                    raise InputError("truncated video frame", self.path)
                return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3).copy()

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()
        self._frames = None
        self._next = 0


def count_video_frames(path) -> int:
    """Number of frames in an mp4 (stream copy, no decoding)."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise InputError("video not found", path)
    try:
        count, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"unreadable video ({_last_line(exc)})", path) from None
    return int(count)
