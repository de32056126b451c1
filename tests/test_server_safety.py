"""Hostile uploads to a real server: each is refused with one line, stores nothing, costs no quota.

Zip-slip and absolute entries, symlink entries, zip bombs (inner and outer), pickled
arrays, oversized bodies (declared and streamed without a length), archives of
millions of entries, not-a-zip, malformed requests.
"""

import http.client
import io
import json
import stat
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install 'facebench[server]')")

from facebench.server.client import ServerError, multipart
from tests.server_harness import (
    Server,
    add_user,
    client,
    database_url,
    make_gts,
    make_preds,
    write_config,
    zip_folder,
)

LIMIT_MB = 1


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("server-safety")
    data = root / "data"
    url = database_url("sqlite", data, [])
    gt, gtv = make_gts(root)
    write_config(data, {("synth-v1", "test"): (gt, 50, 50)}, max_upload_mb=LIMIT_MB, poll_s=0.2)
    token = add_user(url, "mallory")
    server = Server(data, url, workers=1)
    preds = make_preds(gt, root / "preds", "hostile")
    yield SimpleNamespace(root=root, data=data, gt=gt, token=token, server=server, preds=preds)
    server.stop()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def with_clip(site, tmp, clip_bytes: bytes, name="s.zip") -> Path:
    """The valid submission with its first clip's file replaced by ``clip_bytes``."""
    out = tmp / name
    first = "901/EXP-1-head/222200037.npz"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(site.preds.rglob("*")):
            rel = path.relative_to(site.preds).as_posix()
            if path.is_file():
                zf.writestr(rel, clip_bytes if rel == first else path.read_bytes())
    return out


def symlink_zip(site, tmp) -> Path:
    out = zip_folder(site.preds, tmp / "link.zip")
    with zipfile.ZipFile(out, "a") as zf:
        info = zipfile.ZipInfo("901/link.npz")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return out


def many_entries(site, tmp) -> Path:
    out = tmp / "many.zip"
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("meta.json", json.dumps({"method": "m", "benchmark": "synth-v1"}))
        for i in range(3000):
            zf.writestr(f"x/{i}", b"")
    return out


CASES = {
    "zip-slip ../": (lambda s, t: zip_folder(s.preds, t / "a.zip", extra=[("../evil.npz", b"x")]),
                     "leaves the archive folder"),
    "zip-slip nested": (lambda s, t: zip_folder(s.preds, t / "a.zip", extra=[("901/../../evil.npz", b"x")]),
                        "leaves the archive folder"),
    "absolute entry": (lambda s, t: zip_folder(s.preds, t / "a.zip", extra=[("/tmp/evil.npz", b"x")]),
                       "is an absolute path"),
    "symlink entry": (symlink_zip, "is a symbolic link"),
    "duplicate entry": (lambda s, t: zip_folder(s.preds, t / "a.zip", extra=[("meta.json", b"{}")]),
                        "appears twice"),
    "zip bomb in a clip (20 MB of zeros)": (
        lambda s, t: with_clip(s, t, npz_bytes(depth=np.zeros((5, 1024, 1024), np.float32))),
        "more than the"),
    "pickled object array": (
        lambda s, t: with_clip(s, t, npz_bytes(depth=np.array([{"a": 1}, None], dtype=object))),
        "object arrays are refused"),
    "3000 entries": (many_entries, "declares 3001 entries"),
    "not a zip": (lambda s, t: _write(t / "r.zip", np.random.default_rng(0).bytes(5000)),
                  "is not a .zip file"),
    "meta.json not JSON": (lambda s, t: _replace_meta(s, t, b"{nope"), "meta.json is not valid JSON"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _replace_meta(site, tmp, meta: bytes) -> Path:
    out = tmp / "m.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(site.preds.rglob("*")):
            if path.is_file():
                rel = path.relative_to(site.preds).as_posix()
                zf.writestr(rel, meta if rel == "meta.json" else path.read_bytes())
    return out


def _nothing_stored(site):
    c = client(site.server, site.token)
    assert c.get("/api/v1/submissions")["submissions"] == []
    assert not list((site.data / "uploads").glob(".part-*"))
    assert not list((site.data / "submissions").glob("*.zip"))
    assert not any(p.name == "evil.npz" for p in site.root.rglob("evil.npz"))


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_upload_is_refused_with_one_line(site, tmp_path, name, record_property):
    build, reason = CASES[name]
    archive = build(site, tmp_path)
    with pytest.raises(ServerError) as err:
        client(site.server, site.token).submit(archive)
    assert err.value.status == 422, str(err.value)
    assert reason in str(err.value) and "\n" not in str(err.value)
    assert str(archive) not in str(err.value)            # the server's paths are not the user's business
    _nothing_stored(site)
    record_property("outcome", f"{err.value.status}: {err.value}")


def test_oversized_upload_is_refused_before_and_while_streaming(site, tmp_path, record_property):
    big = _write(tmp_path / "big.zip", np.random.default_rng(1).bytes(int(LIMIT_MB * 2**20) + 1000))
    with pytest.raises(ServerError) as err:              # Content-Length says it is too big
        client(site.server, site.token).submit(big)
    assert err.value.status == 413 and "over this server's limit" in str(err.value)
    # no Content-Length (chunked): the server counts the bytes and stops at the limit
    boundary, parts, _ = multipart({"phase": "test"}, big)
    host, port = site.server.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", "/api/v1/submissions", body=parts, encode_chunked=True,
                     headers={"Authorization": f"Bearer {site.token}", "Transfer-Encoding": "chunked",
                              "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        body = json.loads(response.read())
    except (BrokenPipeError, ConnectionResetError):
        response, body = None, None                      # the server may hang up once it has answered
    finally:
        conn.close()
    if response is not None:
        assert response.status == 413 and "over this server's limit" in body["detail"]
    _nothing_stored(site)
    streamed = f"{response.status}: {body['detail']}" if response is not None else "connection closed"
    record_property("outcome", f"declared: {err.value.status}; streamed without a length: {streamed}")


def test_malformed_requests_get_one_line(site, tmp_path):
    c = client(site.server, site.token)
    with pytest.raises(ServerError) as err:
        c.request("POST", "/api/v1/submissions", [b"hello"], {"Content-Type": "application/zip"}, 5)
    assert err.value.status == 415
    body = b'--b\r\nContent-Disposition: form-data; name="phase"\r\n\r\ntest\r\n--b--\r\n'
    with pytest.raises(ServerError) as err:
        c.request("POST", "/api/v1/submissions", [body], {"Content-Type": "multipart/form-data; boundary=b"},
                  len(body))
    assert err.value.status == 400 and "no 'file' part" in str(err.value)
    _nothing_stored(site)


def test_valid_upload_after_all_that_is_scored(site, tmp_path):
    c = client(site.server, site.token)
    sub = c.submit(zip_folder(site.preds, tmp_path / "ok.zip"))
    assert c.wait(sub["id"], timeout=90)["state"] == "scored"
    assert not list((site.data / "uploads").glob(".part-*"))
