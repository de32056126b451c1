"""``facebench submit``: upload predictions to a facebench server and wait for the score.

Standard library only (``http.client``), so participants need nothing beyond facebench.
A predictions folder is zipped to a temporary file first (refusing symlinks, as the
server would); the zip is streamed to the server, never read into memory.

    from facebench.server.client import Client
    client = Client("http://127.0.0.1:8000", token)
    sub = client.submit("preds/", phase="validation")
    sub = client.wait(sub["id"])          # state scored or failed; sub["results"] when scored
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import quote, urlsplit

from facebench.errors import FacebenchError, InputError

CHUNK = 1 << 16
FINAL = ("scored", "failed")


class ServerError(FacebenchError):
    """The server's one-line answer to a request it refused; ``problems`` lists each reason."""

    def __init__(self, message: str, status: int = 0, problems=None):
        self.status = status
        self.problems = list(problems or [])
        super().__init__(message)


class Client:
    def __init__(self, server: str, token: str | None, timeout: float = 300.0):
        parts = urlsplit(server if "://" in server else f"http://{server}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--server {server!r}: expected http(s)://HOST[:PORT]")
        self.server, self.parts, self.token, self.timeout = server, parts, token, timeout
        self.base = parts.path.rstrip("/")

    def _connection(self):
        cls = http.client.HTTPSConnection if self.parts.scheme == "https" else http.client.HTTPConnection
        return cls(self.parts.hostname, self.parts.port, timeout=self.timeout)

    def request(self, method: str, path: str, body=None, headers=None, length: int | None = None) -> dict:
        """JSON answer of one request; ServerError with the server's one line on an error status."""
        conn = self._connection()
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.putrequest(method, self.base + path)
            for key, value in headers.items():
                conn.putheader(key, value)
            if length is not None:
                conn.putheader("Content-Length", str(length))
            conn.endheaders()
            try:
                for chunk in body or ():
                    conn.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass                    # the server answered before reading everything: read its answer
            response = conn.getresponse()
            raw = response.read()
        except (ConnectionError, TimeoutError, OSError, http.client.HTTPException) as exc:
            raise FacebenchError(f"cannot reach the server at {self.server} ({exc.__class__.__name__}: "
                                 f"{exc})") from None
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"detail": raw[:200].decode("utf-8", "replace")}
        if response.status >= 400:
            detail = data.get("detail") if isinstance(data, dict) else None
            problems = data.get("problems") if isinstance(data, dict) else None
            raise ServerError(f"server answered {response.status}: {detail or response.reason}",
                              response.status, problems)
        return data

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def status(self, sub_id: str) -> dict:
        return self.get(f"/api/v1/submissions/{quote(sub_id, safe='')}")

    def submit(self, preds, benchmark: str | None = None, phase: str = "test",
               progress: bool = False) -> dict:
        """Upload a predictions folder or .zip; returns the new submission (state ``queued``)."""
        self.get("/api/v1/me")                # a bad token fails here, before the upload
        preds = Path(preds)
        with tempfile.TemporaryDirectory(prefix="facebench-submit-") as tmp:
            if preds.is_dir():
                path = zip_predictions(preds, Path(tmp) / f"{preds.resolve().name or 'predictions'}.zip")
            elif preds.is_file():
                path = preds
            else:
                raise InputError("predictions folder or .zip does not exist", preds)
            fields = {"phase": phase, **({"benchmark": benchmark} if benchmark else {})}
            boundary, parts, length = multipart(fields, path)
            return self.request("POST", "/api/v1/submissions", _progress(parts, length, progress),
                                {"Content-Type": f"multipart/form-data; boundary={boundary}"}, length)

    def wait(self, sub_id: str, timeout: float = 3600.0, on_state=None) -> dict:
        """Poll until the submission is scored or failed; FacebenchError after ``timeout`` seconds."""
        deadline, pause, last = time.monotonic() + timeout, 0.5, None
        while True:
            sub = self.status(sub_id)
            if sub["state"] != last and on_state is not None:
                on_state(sub)
            last = sub["state"]
            if sub["state"] in FINAL:
                return sub
            if time.monotonic() > deadline:
                raise FacebenchError(f"submission {sub_id} is still {sub['state']} after {timeout:g} s; "
                                     f"ask again with `facebench submit status {sub_id}`")
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)


def zip_predictions(folder, out) -> Path:
    """A .zip of a predictions folder (meta.json at its top); symlinks are refused."""
    folder, out = Path(folder), Path(out)
    if not (folder / "meta.json").is_file():
        raise InputError("no meta.json: not a predictions folder", folder)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames) + dirnames:
                if os.path.islink(os.path.join(dirpath, name)):
                    raise InputError("is a symbolic link; predictions must be plain files",
                                     Path(dirpath) / name)
            for name in sorted(filenames):
                full = Path(dirpath) / name
                zf.write(full, full.relative_to(folder).as_posix())
    return out


def multipart(fields: dict, path: Path):
    """(boundary, chunk iterator, total length) of a multipart/form-data body with one file part."""
    boundary = "facebench-" + secrets.token_hex(12)
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields.items())
    name = path.name.replace('"', "_")
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
             "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks():
        yield head
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
        yield tail

    return boundary, chunks(), len(head) + path.stat().st_size + len(tail)


def _progress(parts, total: int, enabled: bool):
    if not enabled:
        yield from parts
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, desc="upload", leave=False, disable=None) as bar:
        for chunk in parts:
            bar.update(len(chunk))
            yield chunk
