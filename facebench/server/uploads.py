"""Receiving an upload: a multipart body streamed to a file in the data folder, with a size limit.

Nothing is held in memory but the current chunk.  The declared ``Content-Length`` is
checked before reading; the bytes actually received are counted while writing, so a
client that lies is cut off at the limit.  The file part lands in
``DATA/uploads/.part-*``; the caller moves it into place when the submission is
accepted, or deletes it.  A full disk gives :class:`DiskFull` and leaves no file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path

from facebench.errors import FacebenchError
from facebench.server.db import DiskFull

MAX_FIELDS = 16
MAX_FIELD_BYTES = 4096
EOCD = b"PK\x05\x06"
EOCD64_LOCATOR = b"PK\x06\x07"


class BadUpload(FacebenchError):
    """A malformed or oversized request body; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        self.status = status
        super().__init__(message)


@dataclass
class Upload:
    path: Path
    filename: str = ""
    size: int = 0
    sha256: str = ""
    fields: dict = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


async def receive_upload(request, dest_dir: Path, max_bytes: int) -> Upload:
    """Stream a ``multipart/form-data`` request (one ``file`` part, a few text fields) to disk."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not options.get(b"boundary"):
        raise BadUpload("expected a multipart/form-data body with a 'file' part", 415)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + (64 << 10):
        raise BadUpload(f"upload of {int(declared)} bytes is over this server's limit of {max_bytes} bytes",
                        413)
    dest_dir.mkdir(parents=True, exist_ok=True)
    sink = _Sink(Upload(dest_dir / f".part-{secrets.token_hex(8)}"), max_bytes)
    parser = MultipartParser(options[b"boundary"], sink.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        sink.close(complete=True)
    except BaseException as exc:
        sink.close(complete=False)
        sink.upload.discard()
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise DiskFull("the server's disk is full; the upload was not stored") from None
        if isinstance(exc, (FacebenchError, OSError)) or not isinstance(exc, Exception):
            raise
        raise BadUpload(f"malformed multipart body ({exc.__class__.__name__}: {exc})") from None
    if not sink.got_file:
        sink.upload.discard()
        raise BadUpload("the request has no 'file' part")
    return sink.upload


class _Sink:
    """Parser callbacks: text fields into a dict, the file part into the temporary file."""

    def __init__(self, upload: Upload, max_bytes: int):
        self.upload, self.max_bytes = upload, max_bytes
        self.fh = None
        self.got_file = False
        self.hasher = hashlib.sha256()
        self.headers: dict[str, str] = {}
        self.header_name = self.header_value = b""
        self.current: str | None = None     # "file", a field name, or None (ignored part)
        self.value = b""

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_val, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.data,
                "on_part_end": self.part_end}

    def part_begin(self):
        self.headers, self.header_name, self.header_value = {}, b"", b""

    def header_field(self, data, start, end):
        self.header_name += data[start:end]

    def header_val(self, data, start, end):
        self.header_value += data[start:end]

    def header_end(self):
        name = self.header_name.decode("latin-1").lower()
        self.headers[name] = self.header_value.decode("utf-8", "replace")
        self.header_name, self.header_value = b"", b""

    def headers_finished(self):
        from python_multipart.multipart import parse_options_header

        _, opts = parse_options_header(self.headers.get("content-disposition", ""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts and name == "file":
            if self.got_file:
                raise BadUpload("the request has more than one 'file' part")
            self.got_file = True
            self.upload.filename = Path(opts[b"filename"].decode("utf-8", "replace")).name[:255]
            self.fh = open(self.upload.path, "xb")
            self.current = "file"
        elif b"filename" in opts:
            self.current = None
        else:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise BadUpload("too many form fields")
            self.current, self.value = name, b""

    def data(self, data, start, end):
        chunk = data[start:end]
        if self.current == "file":
            self.upload.size += len(chunk)
            if self.upload.size > self.max_bytes:
                raise BadUpload(f"upload is over this server's limit of {self.max_bytes} bytes", 413)
            self.hasher.update(chunk)
            self.fh.write(chunk)
        elif self.current is not None:
            self.value += chunk
            if len(self.value) > MAX_FIELD_BYTES:
                raise BadUpload(f"form field {self.current!r} is too long")

    def part_end(self):
        if self.current not in (None, "file"):
            self.upload.fields[self.current] = self.value.decode("utf-8", "replace").strip()
        self.current = None

    def close(self, complete: bool):
        if self.fh is None:
            return
        fh, self.fh = self.fh, None
        try:
            if complete:
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            fh.close()
        self.upload.sha256 = self.hasher.hexdigest()


def zip_entry_count(path) -> int:
    """Entries a zip file declares in its end-of-central-directory record, read without parsing
    the central directory (so a zip of millions of tiny entries is refused before it costs memory).
    -1 when the file is not a zip."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        tail_len = min(size, 22 + 0xFFFF)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        at = tail.rfind(EOCD)
        if at < 0 or len(tail) - at < 22:
            return -1
        count = struct.unpack("<H", tail[at + 10:at + 12])[0]
        if count != 0xFFFF:
            return count
        loc = tail.rfind(EOCD64_LOCATOR, 0, at)
        if loc < 0 or len(tail) - loc < 20:
            return -1
        offset = struct.unpack("<Q", tail[loc + 8:loc + 16])[0]
        if offset + 56 > size:
            return -1
        fh.seek(offset)
        record = fh.read(56)
        if record[:4] != b"PK\x06\x06":
            return -1
        return struct.unpack("<Q", record[32:40])[0]
