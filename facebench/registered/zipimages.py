"""Members of a dataset's zip archives, read in place (never extracted), as safely as prediction zips.

Datasets such as Ava-256 ship images, segmentations and meshes as zip archives
(``image/cam400940.zip`` holding ``cam400940/000123.avif``).  :class:`ZipArchive` opens
one lazily and reads single members with the limits of :mod:`facebench.io.safe_npz`:
unsafe entry names (absolute, ``..``, backslashes), links, encrypted and duplicate entries
are refused when the archive is opened; a member's declared size is checked before it
is inflated and the inflated stream is bounded (a lying header cannot make us read more);
decoded images are refused above :data:`IMAGE_MAX_PIXELS` before their pixels are
decoded.  Every problem is a one-line :class:`facebench.errors.InputError` naming the
archive and the member.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from facebench.errors import InputError, ValidationError

IMAGE_MAX_BYTES = 64 << 20       # one encoded image (a 4096 x 2668 PNG is ~ 20 MB)
IMAGE_MAX_PIXELS = 8192 * 8192   # decoded size; refused before decoding (decompression bomb)
TEXT_MAX_BYTES = 1 << 16         # a head pose .txt
MESH_MAX_BYTES = 256 << 20       # one registered mesh (.ply)


class ZipArchive:
    """One zip archive on disk, opened on first use; :meth:`read` gives one member's bytes."""

    def __init__(self, path):
        self.path = Path(path)
        self._zf: zipfile.ZipFile | None = None
        self._entries: dict[str, zipfile.ZipInfo] = {}

    def _open(self) -> dict[str, zipfile.ZipInfo]:
        from facebench.io.safe_npz import ARCHIVE_ERRORS, safe_infolist

        if self._zf is not None:
            return self._entries
        if not self.path.is_file():
            raise InputError("file not found", self.path)
        try:
            zf = zipfile.ZipFile(self.path)
        except ARCHIVE_ERRORS as exc:
            raise InputError(f"corrupt or unreadable zip archive ({exc.__class__.__name__}: {exc})",
                             self.path) from None
        try:
            entries = safe_infolist(zf, str(self.path))
        except ValidationError as exc:
            zf.close()
            raise InputError(str(exc)) from None
        self._zf = zf
        self._entries = {name: info for name, info in entries.items() if not info.is_dir()}
        return self._entries

    def exists(self) -> bool:
        return self.path.is_file()

    def names(self) -> set[str]:
        """Names of every file member (normalized POSIX paths)."""
        return set(self._open())

    def has(self, member: str) -> bool:
        return member in self._open()

    def read(self, member: str, limit: int) -> bytes:
        """The bytes of ``member``; InputError when it is missing, too large or corrupt."""
        from facebench.io.safe_npz import read_member

        info = self._open().get(member)
        if info is None:
            raise InputError(f"{member} is missing from the archive", self.path)
        try:
            return read_member(self._zf, info, limit, f"{self.path}: {member}")
        except ValidationError as exc:
            raise InputError(str(exc)) from None

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
            self._zf = None
            self._entries = {}


def _open_image(data: bytes, what: str):
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"{what}: not a readable image ({exc.__class__.__name__}: {exc})") from None
    width, height = image.size
    if width * height > IMAGE_MAX_PIXELS:
        raise InputError(f"{what}: image is {width} x {height} pixels, more than the "
                         f"{IMAGE_MAX_PIXELS} allowed")
    return image


def image_size(data: bytes, what: str) -> tuple[int, int]:
    """(width, height) from an encoded image's header, without decoding its pixels."""
    return _open_image(data, what).size


def decode_image(data: bytes, what: str, mode: str = "RGB") -> np.ndarray:
    """Decode an encoded image (any format Pillow reads: AVIF, PNG, JPEG) to a numpy array.

    ``mode`` "RGB" gives uint8 (H,W,3); "L" gives (H,W) 8-bit values; "label" keeps the
    stored integer values of a single-channel (label) image as uint8 (H,W).
    """
    from PIL import Image

    image = _open_image(data, what)
    try:
        if mode == "label":
            if image.mode not in ("L", "P", "I", "I;16"):
                image = image.convert("L")
            array = np.asarray(image)
            if array.ndim != 2 or (array.size and (array.min() < 0 or array.max() > 255)):
                raise InputError(f"{what}: a label image must hold one channel of values 0-255")
            return array.astype(np.uint8)
        return np.asarray(image.convert(mode))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"{what}: truncated or corrupt image ({exc.__class__.__name__}: {exc})") from None
