"""The server's parts without a running server: settings, migrations, zip headers, redaction, the CLI's
light imports and one-line errors."""

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install 'facebench[server]')")

from facebench.errors import FacebenchError
from facebench.server.config import load_config, parse_gt_option
from facebench.server.uploads import zip_entry_count
from tests.server_harness import PostgresDatabase, postgres_admin_url, python_env


def test_gt_option_and_config_file(tmp_path):
    assert parse_gt_option("synth-v1=/g") == ("synth-v1", "test", Path("/g"))
    assert parse_gt_option("synth-v1:validation=/g")[1] == "validation"
    for bad, message in (("synth-v1", "expected BENCHMARK=GT_DIR"),
                         ("synth-v1:dev=/g", "unknown phase 'dev'")):
        with pytest.raises(FacebenchError, match=message):
            parse_gt_option(bad)
    (tmp_path / "server.yaml").write_text("max_upload_mb: 2\nlease_s: 7\nbenchmarks:\n  synth-v1:\n"
                                          "    test: {gt: /gt/t, per_day: 1, total: 4}\n")
    config = load_config(tmp_path, gt=["synth-v1:validation=/gt/v"])
    assert config.max_upload_bytes == 2 << 20 and config.lease_s == 7
    assert config.track("synth-v1", "test").quota.total == 4
    assert config.track("synth-v1", "validation").quota.per_day == 20        # the default validation quota
    assert config.db_url.startswith("sqlite:///") and str(tmp_path) in config.db_url
    (tmp_path / "server.yaml").write_text("lease: 7\n")
    with pytest.raises(FacebenchError, match="unknown key 'lease' \\(did you mean 'lease_s'\\?\\)"):
        load_config(tmp_path)
    (tmp_path / "server.yaml").write_text("benchmarks: {synth-v1: {test: {gt: /g, per_day: -1}}}\n")
    with pytest.raises(FacebenchError, match="a quota is a whole number"):
        load_config(tmp_path)


def test_zip_entry_count_reads_only_the_end_record(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(7):
            zf.writestr(f"f{i}", b"x")
    assert zip_entry_count(path) == 7
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = b"c" * 1000                     # the end record is not the last bytes
    assert zip_entry_count(path) == 7
    big = tmp_path / "z64.zip"
    with zipfile.ZipFile(big, "w") as zf:             # zip64 end record: 70,000 entries
        for i in range(70_000):
            zf.writestr(zipfile.ZipInfo(f"{i}"), b"")
    assert zip_entry_count(big) == 70_000
    (tmp_path / "n.zip").write_bytes(b"not a zip at all" * 10)
    assert zip_entry_count(tmp_path / "n.zip") == -1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_build_exactly_the_schema(tmp_path, backend):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from facebench.server.db import Database, check_schema, head_revision, migrate
    from facebench.server.schema import metadata

    pg = PostgresDatabase(postgres_admin_url()) if backend == "postgresql" else None
    db = Database(pg.url if pg else f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        with pytest.raises(FacebenchError, match="start `facebench serve` once"):
            check_schema(db)
        assert migrate(db) == head_revision() and migrate(db) == head_revision()     # idempotent
        check_schema(db)
        with db.read() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            if backend == "sqlite":
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.dispose()
        if pg:
            pg.drop()


def test_test_phase_results_hide_clips():
    from facebench.server.submissions import flag_counts, public_results

    flags = [{"clip": c, "task": "depth", "kind": "outlier", "reason": "r"} for c in ("901/A/1", "902/A/1")]
    record = {"schema_version": 1, "facebench_version": "x", "benchmark": {"name": "b", "version": 1},
              "gt_manifest_sha256": "0" * 64, "method": {"method": "m"},
              "metrics": {"depth": {"abs_rel": 0.1}}, "per_clip": {"901/A/1": {"depth": {"abs_rel": 0.1}}},
              "counts": {"clips": 1, "missing_clips": ["901/A/1"]}, "protocol": {"depth": {}},
              "elapsed_s": 1.0, "flags": flags, "predictions": "/srv/data/submissions/s1.zip"}
    test = public_results(record, "test")
    assert "901/A/1" not in json.dumps(test) and "/srv" not in json.dumps(test)
    assert test["flag_counts"] == {"depth": {"outlier": 2}} == flag_counts(record["flags"])
    validation = public_results(record, "validation")
    assert validation["per_clip"] == record["per_clip"] and "predictions" not in validation


def test_cli_help_imports_no_server_library():
    code = ("import sys; from facebench.cli import main\n"
            "try:\n    main(['submit', '--help'])\nexcept SystemExit: pass\n"
            "try:\n    main(['--help'])\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('fastapi', 'sqlalchemy', 'uvicorn', 'alembic', 'torch')\n"
            "         if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=python_env())
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("args, message", [
    (["serve"], "--data is required"),
    (["serve", "--data", "{tmp}", "--gt", "synth-v1"], "expected BENCHMARK=GT_DIR"),
    (["serve", "--data", "{tmp}", "--gt", "synth-v9={tmp}"], "unknown benchmark 'synth-v9'"),
    (["serve", "--data", "{tmp}"], "no benchmark to serve"),
    (["serve", "user", "revoke", "nobody", "--data", "{tmp}"], "no user 'nobody'"),
    (["submit", "{tmp}", "--server", "http://127.0.0.1:9", "--token", "t"], "cannot reach the server"),
    (["submit", "status", "s1", "--server", "ftp://x", "--token", "t"], "expected http(s)://HOST[:PORT]"),
])
def test_cli_mistakes_are_one_line(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = subprocess.run([sys.executable, "-m", "facebench", *args], capture_output=True, text=True,
                         env=python_env(), timeout=120)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_multipart_body_is_what_the_server_parses(tmp_path):
    from facebench.server.client import multipart

    payload = tmp_path / 'we"ird.zip'
    payload.write_bytes(b"PK" + bytes(range(256)) * 3)
    boundary, chunks, length = multipart({"phase": "test"}, payload)
    body = b"".join(chunks)
    assert len(body) == length and body.count(boundary.encode()) == 3
    assert b'filename="we_ird.zip"' in body and payload.read_bytes() in body
    assert io.BytesIO(body).read(2) == b"--"
