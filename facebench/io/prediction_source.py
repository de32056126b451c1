"""Where a submission's files come from: a folder or a ``.zip``, read defensively.

Both kinds answer the same three questions (meta.json, which clip files exist,
the bytes of one clip file) and refuse anything that could reach outside the
submission: symlinks, ``..``, absolute paths, oversized entries.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

from facebench.errors import InputError, ValidationError

META = "meta.json"
META_MAX_BYTES = 1 << 20


def open_predictions(path) -> PredictionSource:
    """A :class:`PredictionSource` for a predictions folder or ``.zip`` file."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path)
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise InputError("not a predictions folder or .zip file", path)
        return ZipSource(path)
    raise InputError("predictions folder or .zip does not exist", path)


def parse_meta(raw: bytes) -> dict:
    from facebench.io.predictions import check_meta

    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError("meta.json is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"meta.json is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValidationError("meta.json is nested too deeply") from None
    return check_meta(meta)


class PredictionSource:
    """Common interface; use :func:`open_predictions`.  Usable as a context manager."""

    path: Path

    def meta(self) -> dict:
        return parse_meta(self._read(META, META_MAX_BYTES))

    def clip_ids(self) -> list[str]:
        """Clip ids of every ``{participant}/{sequence}/{serial}.npz`` present (sorted)."""
        return sorted(name[:-4] for name in self._names() if name.endswith(".npz"))

    def has_clip(self, clip_id: str) -> bool:
        return f"{clip_id}.npz" in self._names()

    def open_clip(self, clip_id: str, limit: int):
        """A binary file object holding the clip's ``.npz`` (at most ``limit`` bytes)."""
        return io.BytesIO(self._read(f"{clip_id}.npz", limit))

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FolderSource(PredictionSource):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.root = self.path.resolve()
        self._cache: set[str] | None = None

    def _names(self) -> set[str]:
        if self._cache is None:
            names = set()
            for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
                rel_dir = os.path.relpath(dirpath, self.root)
                for name in filenames + dirnames:
                    full = os.path.join(dirpath, name)
                    if os.path.islink(full):
                        rel = os.path.normpath(os.path.join(rel_dir, name))
                        raise ValidationError(f"{self.path}: {rel} is a symbolic link; "
                                              "predictions must be plain files")
                for name in filenames:
                    names.add(os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/"))
            self._cache = names
        return self._cache

    def _read(self, rel: str, limit: int) -> bytes:
        path = self._safe_path(rel)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise ValidationError(f"{self.path}: {rel} is missing") from None
        except OSError as exc:
            raise ValidationError(f"{self.path}: cannot open {rel} ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ValidationError(f"{self.path}: {rel} is not a regular file")
            if st.st_size > limit:
                raise ValidationError(f"{self.path}: {rel} is {st.st_size} bytes, more than the "
                                      f"{limit} it may hold")
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ValidationError(f"{self.path}: {rel} grew past {limit} bytes while reading")
        return data

    def _safe_path(self, rel: str) -> Path:
        from facebench.io.safe_npz import check_member_name

        check_member_name(rel)
        path = self.root
        for part in rel.split("/"):
            path = path / part
            if path.is_symlink():
                raise ValidationError(f"{self.path}: {rel} goes through a symbolic link")
        if not str(path.resolve()).startswith(str(self.root) + os.sep):
            raise ValidationError(f"{self.path}: {rel} leaves the predictions folder")
        return path


class ZipSource(PredictionSource):
    def __init__(self, path: Path):
        from facebench.io.safe_npz import ARCHIVE_ERRORS, safe_infolist

        self.path = Path(path)
        try:
            self.zf = zipfile.ZipFile(self.path)
        except ARCHIVE_ERRORS as exc:
            raise ValidationError(f"{self.path}: unreadable zip ({exc.__class__.__name__}: {exc})") from None
        try:
            entries = safe_infolist(self.zf, str(self.path))
        except ValidationError:
            self.zf.close()
            raise
        self.prefix = self._find_prefix(entries)
        self.entries = {name[len(self.prefix):]: info for name, info in entries.items()
                        if name.startswith(self.prefix) and not info.is_dir()}

    def _find_prefix(self, entries) -> str:
        """"" when meta.json is at the top, "X/" when the zip holds one folder X with it."""
        if META in entries:
            return ""
        tops = {name.split("/")[0] for name in entries}
        if len(tops) == 1 and f"{next(iter(tops))}/{META}" in entries:
            return next(iter(tops)) + "/"
        return ""

    def _names(self) -> set[str]:
        return set(self.entries)

    def _read(self, rel: str, limit: int) -> bytes:
        from facebench.io.safe_npz import read_member

        info = self.entries.get(rel)
        if info is None:
            raise ValidationError(f"{self.path}: {rel} is missing")
        return read_member(self.zf, info, limit, f"{self.path}: {rel}")

    def close(self) -> None:
        self.zf.close()
