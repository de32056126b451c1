"""Reading untrusted ``.npz`` files and zip archives without trusting them.

Nothing here unpickles, and nothing allocates more than the caller allows:

* member sizes are checked against limits from the zip central directory
  *before* any decompression (a zip bomb is refused without inflating it);
* a member is then read through a bounded stream, so a header that lies about
  its uncompressed size still cannot make us read more than the limit;
* every ``.npy`` header is parsed and checked (dtype, shape, no object dtype)
  before its data is read; data is read with ``allow_pickle=False``;
* entry names with absolute paths, ``..``, backslashes or drive letters, symlink
  entries and duplicate names are refused.

Every problem is raised as :class:`facebench.errors.ValidationError` with one line.
"""

from __future__ import annotations

import io
import posixpath
import stat
import struct
import zipfile
import zlib

import numpy as np

from facebench.errors import ValidationError

CHUNK = 1 << 20
NPY_HEADER_MAX = 1 << 16
# Errors that a corrupt or hostile archive can raise inside zipfile / zlib / numpy.format.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError,
                  ValueError, struct.error, OverflowError, UnicodeDecodeError, SyntaxError, KeyError)


def check_member_name(name: str) -> str:
    """The entry name if it is a safe relative POSIX path, else ValidationError."""
    if not name or "\x00" in name or "\\" in name:
        raise ValidationError(f"archive entry {name!r} has an unsafe name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValidationError(f"archive entry {name!r} is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValidationError(f"archive entry {name!r} leaves the archive folder ('..')")
    return posixpath.normpath(name)


def safe_infolist(zf: zipfile.ZipFile, what: str) -> dict[str, zipfile.ZipInfo]:
    """Entries of an open archive by normalized name; refuses unsafe names, links, duplicates."""
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        try:
            name = check_member_name(info.filename)
        except ValidationError as exc:
            raise ValidationError(f"{what}: {exc}") from None
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ValidationError(f"{what}: entry {info.filename!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise ValidationError(f"{what}: entry {info.filename!r} is encrypted")
        if name in entries:
            raise ValidationError(f"{what}: entry {info.filename!r} appears twice")
        entries[name] = info
    return entries


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
    """Bytes of one entry, refusing it before decompression if its declared size is over
    ``limit``, and while reading if it inflates past the limit anyway (lying header)."""
    if info.file_size > limit:
        raise ValidationError(f"{what}: {info.file_size} bytes uncompressed, more than the "
                              f"{limit} this entry may hold")
    chunks, size = [], 0
    try:
        with zf.open(info) as stream:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise ValidationError(f"{what}: inflates past {limit} bytes (size header is wrong)")
    except ValidationError:
        raise
    except ARCHIVE_ERRORS as exc:
        raise ValidationError(f"{what}: corrupt archive entry ({exc.__class__.__name__}: {exc})") from None
    return b"".join(chunks)


def parse_npy(data: bytes, what: str):
    """(shape, dtype, offset of the data) from an ``.npy`` header, never unpickling."""
    fh = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh, max_header_size=NPY_HEADER_MAX)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh, max_header_size=NPY_HEADER_MAX)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ARCHIVE_ERRORS + (TypeError,) as exc:
        raise ValidationError(f"{what}: not a valid .npy array ({exc.__class__.__name__}: {exc})") from None
    if dtype.hasobject:
        raise ValidationError(f"{what}: object arrays are refused (they need pickle)")
    return tuple(int(s) for s in shape), dtype, bool(fortran), fh.tell()


def array_from_npy(data: bytes, shape, dtype, fortran: bool, offset: int, what: str) -> np.ndarray:
    """The array whose header :func:`parse_npy` read; the data length must match exactly."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != nbytes:
        raise ValidationError(f"{what}: holds {len(data) - offset} data bytes, its header says {nbytes}")
    try:
        flat = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape, dtype=np.int64)), offset=offset)
    except ARCHIVE_ERRORS + (TypeError,) as exc:
        raise ValidationError(f"{what}: unreadable array data ({exc})") from None
    return flat.reshape(shape, order="F" if fortran else "C")


def read_npz(fileobj, limits: dict[str, int], what: str, check=None) -> dict[str, np.ndarray]:
    """Arrays of an untrusted ``.npz``.

    Args:
        fileobj: path or seekable binary file.
        limits: allowed keys -> most bytes their ``.npy`` member may hold (header included).
        what: name used in error messages (e.g. the clip id).
        check: optional ``check(key, shape, dtype)`` called on each header before its
            data is read; it raises ValidationError to refuse.
    """
    try:
        zf = zipfile.ZipFile(fileobj)
    except ARCHIVE_ERRORS as exc:
        raise ValidationError(f"{what}: not a readable .npz ({exc.__class__.__name__}: {exc})") from None
    with zf:
        entries = safe_infolist(zf, what)
        keys = {}
        for name in entries:
            key = name[:-4] if name.endswith(".npy") else name
            if key not in limits:
                from facebench.errors import did_you_mean

                allowed = ", ".join(sorted(limits))
                raise ValidationError(f"{what}: unexpected key {key!r}{did_you_mean(key, limits)} "
                                      f"(allowed: {allowed})")
            keys[key] = name
        for key, name in keys.items():  # all declared sizes first, before inflating anything
            if entries[name].file_size > limits[key]:
                raise ValidationError(f"{what}: {key} declares {entries[name].file_size} bytes, more "
                                      f"than the {limits[key]} its expected shape needs")
        arrays = {}
        for key, name in keys.items():
            data = read_member(zf, entries[name], limits[key], f"{what}: {key}")
            shape, dtype, fortran, offset = parse_npy(data, f"{what}: {key}")
            if check is not None:
                check(key, shape, dtype)
            arrays[key] = array_from_npy(data, shape, dtype, fortran, offset, f"{what}: {key}")
        return arrays
