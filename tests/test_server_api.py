"""`facebench serve` over loopback, on SQLite and on PostgreSQL: the API, auth, phases, quotas, scoring.

A real server process, real worker processes and a real database; submissions go
through `facebench submit` (the CLI, once) or its client class.  The server's results
must equal `facebench evaluate`'s on the same files, bit for bit on every metric.
"""

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install 'facebench[server]')")

from facebench.evaluate import evaluate, validate_predictions
from facebench.server.client import ServerError
from tests.server_harness import (
    Server,
    add_user,
    client,
    comparable,
    database_url,
    db_rows,
    make_gts,
    make_preds,
    python_env,
    write_config,
    zip_folder,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"server-{request.param}")
    cleanup = []
    data = root / "data"
    url = database_url(request.param, data, cleanup)
    gt, gtv = make_gts(root)
    write_config(data, {("synth-v1", "test"): (gt, 2, 3), ("synth-v1", "validation"): (gtv, None, None)},
                 lease_s=5, poll_s=0.2)
    tokens = {name: add_user(url, name) for name in ("alice", "bob", "quota", "eve", "seed")}
    tokens["root"] = add_user(url, "root", admin=True)
    server = Server(data, url, workers=1)
    seeded = client(server, tokens["seed"]).submit(make_preds(gt, root / "seed", "baseline", level=0.05))
    client(server, tokens["seed"]).wait(seeded["id"], timeout=90)       # one leaderboard row to start with
    yield SimpleNamespace(root=root, data=data, url=url, gt=gt, gtv=gtv, tokens=tokens, server=server,
                          backend=request.param)
    server.stop()
    for fn in cleanup:
        fn()


def test_health_lists_benchmarks_queue_and_workers(site):
    health = client(site.server, None).get("/api/v1/health")
    assert health["status"] == "ok" and health["database"] == site.backend
    assert {(b["benchmark"], b["phase"]) for b in health["benchmarks"]} == {("synth-v1", "test"),
                                                                            ("synth-v1", "validation")}
    test = next(b for b in health["benchmarks"] if b["phase"] == "test")
    assert test["quota"] == {"per_day": 2, "total": 3}
    assert set(health["queue"]) == {"queued", "running", "scored", "failed"}
    schema = client(site.server, None).get("/api/v1/openapi.json")
    for path in ("/api/v1/health", "/api/v1/submissions", "/api/v1/submissions/{sub_id}",
                 "/api/v1/leaderboards/{benchmark}"):
        assert path in schema["paths"], path
    assert "multipart/form-data" in schema["paths"]["/api/v1/submissions"]["post"]["requestBody"]["content"]


def test_submit_wait_prints_the_record_facebench_evaluate_writes(site, record_property):
    preds = make_preds(site.gtv, site.root / "preds-val", "noisy", level=0.02)
    out = subprocess.run([sys.executable, "-m", "facebench", "submit", str(preds),
                          "--server", site.server.url, "--token", site.tokens["alice"],
                          "--phase", "validation", "--wait"],
                         capture_output=True, text=True, env=python_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    served = json.loads(out.stdout)
    local = evaluate(preds, gt=site.gtv, progress=False)
    assert "per_clip" in served and served["flags"] == local["flags"]
    assert comparable(served) == comparable(local)          # every metric, per clip too, bit for bit
    assert re.search(r"submission s[0-9a-f]{16} queued", out.stderr)
    record_property("outcome", f"identical to the local record ({len(local['per_clip'])} clips, "
                               f"canonical.mean_mm {served['metrics']['canonical']['mean_mm']!r})")


def test_test_phase_returns_aggregates_and_the_stored_record_is_evaluates(site):
    preds = make_preds(site.gt, site.root / "preds-test", "noisy", level=0.01)
    alice = client(site.server, site.tokens["alice"])
    sub = alice.submit(zip_folder(preds, site.root / "preds-test.zip"), phase="test")
    assert sub["state"] == "queued" and sub["quota"]["used_total"] == 1
    done = alice.wait(sub["id"], timeout=90)
    assert done["state"] == "scored", done
    local = evaluate(preds, gt=site.gt, progress=False)
    results = done["results"]
    assert "per_clip" not in results and "flags" not in results and "missing_clips" not in results["counts"]
    assert json.dumps(results["metrics"], sort_keys=True) == json.dumps(local["metrics"], sort_keys=True)
    assert results["flag_counts"] == {} or all(isinstance(n, int) for k in results["flag_counts"].values()
                                                for n in k.values())
    assert alice.get(f"/api/v1/submissions/{sub['id']}?full=true")["results"] == results   # not an admin
    full = client(site.server, site.tokens["root"]).get(f"/api/v1/submissions/{sub['id']}?full=true")
    assert comparable(full["results"]) == comparable(local)
    assert full["results"]["predictions"].endswith(f"{sub['id']}.zip")


def test_wrong_and_revoked_tokens_get_401(site, record_property):
    for token in (None, "fbt_not-a-token", site.tokens["alice"] + "x"):
        with pytest.raises(ServerError) as err:
            client(site.server, token).get("/api/v1/submissions")
        assert err.value.status == 401
    eve = client(site.server, site.tokens["eve"])
    assert eve.get("/api/v1/me")["user"] == "eve"
    out = subprocess.run([sys.executable, "-m", "facebench", "serve", "user", "revoke", "eve", "--data",
                          str(site.data), "--db", site.url], capture_output=True, text=True, env=python_env())
    assert out.returncode == 0 and "revoked eve (1 token(s))" in out.stdout, out.stderr
    with pytest.raises(ServerError) as err:
        eve.get("/api/v1/me")
    assert err.value.status == 401 and "invalid or revoked" in str(err.value)
    record_property("outcome", f"{err.value.status}: {err.value}")


def test_another_users_submission_is_404_like_a_missing_one(site, record_property):
    alice, bob = client(site.server, site.tokens["alice"]), client(site.server, site.tokens["bob"])
    mine = alice.get("/api/v1/submissions")["submissions"]
    assert mine and all(s["user"] == "alice" for s in mine)
    for sub_id in (mine[0]["id"], "s0000000000000000"):
        with pytest.raises(ServerError) as err:
            bob.status(sub_id)
        assert err.value.status == 404
        assert str(err.value) == f"server answered 404: no submission {sub_id!r} for user bob"
    assert all(s["user"] == "bob" for s in bob.get("/api/v1/submissions")["submissions"])
    everyone = client(site.server, site.tokens["root"]).get("/api/v1/submissions")["submissions"]
    assert {s["id"] for s in mine} <= {s["id"] for s in everyone}
    record_property("outcome", f"{err.value.status}: {err.value}")


def test_refused_submission_says_what_validate_says_and_costs_no_quota(site, tmp_path, record_property):
    from tests.gt_fixtures import write_preds

    def broken(cid, arrays):                      # one clip with a wrong depth shape
        return dict(arrays, depth=arrays["depth"][:, :-1]) if cid == "901/EXP-1-head/222200038" else arrays

    bad = write_preds(site.gt, tmp_path / "bad", meta={"method": "broken", "benchmark": "synth-v1"},
                      transform=broken, skip=("902/EXP-1-head/222200037",))
    archive = zip_folder(bad, tmp_path / "broken.zip")
    quota = client(site.server, site.tokens["quota"])
    with pytest.raises(ServerError) as err:
        quota.submit(archive, phase="test")
    assert err.value.status == 422
    expected = [line.replace(str(archive), "broken.zip")
                for line in validate_predictions(archive, gt=site.gt)]
    assert err.value.problems == expected and len(expected) == 3
    assert "1 of 4 clips missing, first: 902/EXP-1-head/222200037" in str(err.value)
    assert quota.get("/api/v1/submissions")["submissions"] == []
    assert not list((site.data / "uploads").glob(".part-*"))
    record_property("outcome", f"{err.value.status}: {err.value} (the lines of facebench validate; "
                               "nothing stored)")


def test_quota_per_day_and_in_total(site, tmp_path, record_property):
    quota = client(site.server, site.tokens["quota"])
    archive = zip_folder(make_preds(site.gt, tmp_path / "p", "quota-method"), tmp_path / "p.zip")
    assert quota.submit(archive)["quota"]["used_today"] == 1
    assert quota.submit(archive)["quota"]["used_today"] == 2
    with pytest.raises(ServerError) as err:
        quota.submit(archive)
    assert err.value.status == 429
    assert "2 of 2 submissions to synth-v1 (test) in the last 24 hours" in str(err.value)
    _age_submissions(site.url, "quota", 86400 + 60)             # a day later
    assert quota.submit(archive)["quota"] == {"used_today": 1, "per_day": 2, "used_total": 3, "total": 3}
    _age_submissions(site.url, "quota", 86400 + 60)
    with pytest.raises(ServerError) as err:
        quota.submit(archive)
    assert err.value.status == 429 and "3 of 3 submissions to synth-v1 (test) in total" in str(err.value)
    record_property("outcome", f"{err.value.status}: {err.value}")
    # the validation phase has its own (unlimited) quota
    val = zip_folder(make_preds(site.gtv, tmp_path / "v", "quota-method"), tmp_path / "v.zip")
    assert quota.submit(val, phase="validation")["quota"]["per_day"] is None


def _age_submissions(url: str, user: str, seconds: float) -> None:
    from facebench.server.db import Database

    db = Database(url)
    with db.write() as conn:
        conn.exec_driver_sql(f"UPDATE submissions SET created_at = created_at - {int(seconds)} WHERE "
                             f"user_id = (SELECT id FROM users WHERE name = '{user}')")
    db.dispose()


def test_unknown_phase_or_benchmark_is_refused(site, tmp_path):
    alice = client(site.server, site.tokens["alice"])
    archive = zip_folder(make_preds(site.gt, tmp_path / "p", "x"), tmp_path / "p.zip")
    with pytest.raises(ServerError) as err:
        alice.submit(archive, phase="dev")
    assert err.value.status == 422 and "unknown phase 'dev'" in str(err.value)
    with pytest.raises(ServerError) as err:
        alice.submit(archive, benchmark="synth-v2")
    assert err.value.status == 404 and "does not score synth-v2 (test)" in str(err.value)


def test_leaderboard_ranks_newest_row_per_user_and_method(site, tmp_path):
    bob = client(site.server, site.tokens["bob"])
    sharp = make_preds(site.gt, tmp_path / "b", "sharp", level=0.001)
    sub = bob.submit(zip_folder(sharp, tmp_path / "b.zip"))
    assert bob.wait(sub["id"], timeout=90)["state"] == "scored"
    board = client(site.server, None).get("/api/v1/leaderboards/synth-v1?phase=test")
    assert board["main_metric"] == "canonical.mean_mm" and board["higher_is_better"] is False
    rows = [(r["rank"], r["method"], r["user"]) for r in board["rows"]]
    assert rows[0] == (1, "sharp", "bob") and rows[-1] == (len(rows), "baseline", "seed")
    assert all("per_clip" not in r for r in board["rows"])
    means = [r["metrics"]["canonical.mean_mm"] for r in board["rows"]]
    assert means == sorted(means) and means[0] < means[-1]
    # a better resubmission of the same method replaces bob's row
    sharper = make_preds(site.gt, tmp_path / "b2", "sharp", level=0.0005)
    again = bob.submit(zip_folder(sharper, tmp_path / "c.zip"))
    bob.wait(again["id"], timeout=90)
    board = client(site.server, None).get("/api/v1/leaderboards/synth-v1?phase=test")
    bobs = [r for r in board["rows"] if r["user"] == "bob"]
    assert len(bobs) == 1 and bobs[0]["submission"] == again["id"]
    events = db_rows(site.url, "SELECT submission_id, count(*) FROM job_events WHERE kind = 'scored' "
                               "GROUP BY submission_id")
    assert events and all(n == 1 for _, n in events)


def test_export_feeds_the_static_leaderboard(site, tmp_path):
    out = subprocess.run([sys.executable, "-m", "facebench", "serve", "export", "--data", str(site.data),
                          "--db", site.url, "--benchmark", "synth-v1", "--phase", "test",
                          "--out", str(tmp_path / "rec")],
                         capture_output=True, text=True, env=python_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    records = sorted((tmp_path / "rec").glob("*.json"))
    board = client(site.server, None).get("/api/v1/leaderboards/synth-v1?phase=test")
    assert len(records) == len(board["rows"]) >= 1
    from facebench.leaderboard import publish
    from facebench.leaderboard.table import read_table

    publish(records, tmp_path / "boards")
    table = read_table(tmp_path / "boards" / "synth-v1-v1.csv")
    assert list(table["method"]) == [r["method"] for r in board["rows"]]


def test_browser_forms_need_the_session_csrf_token(site, tmp_path, record_property):
    import http.client
    from urllib.parse import urlencode

    host, port = site.server.url.split("//")[1].split(":")

    def http_request(method, path, body=b"", headers=None):
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read().decode()
        conn.close()
        return response, data

    response, _ = http_request("GET", "/me")
    assert response.status == 303 and response.getheader("location") == "/login"
    response, page = http_request("GET", "/login")
    login_cookie = response.getheader("set-cookie").split(";")[0]
    csrf = re.search(r"name='csrf' value='([^']+)'", page).group(1)
    form = {"csrf": csrf, "token": site.tokens["bob"]}
    response, _ = http_request("POST", "/login", urlencode(form),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 403                            # no log-in cookie: a cross-site post
    response, _ = http_request("POST", "/login", urlencode(form), {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": login_cookie})
    assert response.status == 303
    session = response.getheader("set-cookie").split(";")[0]
    cookie = response.getheader("set-cookie")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    before = len(client(site.server, site.tokens["bob"]).get("/api/v1/submissions")["submissions"])
    from facebench.server.client import multipart

    archive = zip_folder(make_preds(site.gt, tmp_path / "p", "csrf"), tmp_path / "p.zip")
    for token, status in (("forged", 403), (None, 403)):
        fields = {"track": "synth-v1|test", **({"csrf": token} if token else {})}
        boundary, parts, _ = multipart(fields, archive)
        response, page = http_request("POST", "/upload", b"".join(parts), {
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": session})
        assert response.status == status and "upload form expired" in page
    after = client(site.server, site.tokens["bob"]).get("/api/v1/submissions")["submissions"]
    assert len(after) == before and not list((site.data / "uploads").glob(".part-*"))
    record_property("outcome", "log-in without its cookie: 403; upload with a forged or no token: 403, "
                               "nothing stored")
