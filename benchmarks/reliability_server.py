"""Hosted benchmark (`facebench serve`): the fault and security cases of the reliability report.

Each case is a test of tests/test_server_*.py that drives a real server over loopback
with a real database; this module runs them with pytest (one run, JUnit XML) and
turns each into a report row: the outcome is what the test recorded with
``record_property("outcome", ...)`` -- the status and one-line answer it measured.
PostgreSQL cases need ``FACEBENCH_TEST_POSTGRES_URL`` (``bash .ci/postgres.sh`` starts a
throwaway cluster and prints it); full-disk cases need root (they mount a small tmpfs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUP = "Hosted benchmark (facebench serve)"
BACKENDS = ("sqlite", "postgresql")
HOSTILE = ("zip-slip ../", "zip-slip nested", "absolute entry", "symlink entry", "duplicate entry",
           "zip bomb in a clip (20 MB of zeros)", "pickled object array", "3000 entries", "not a zip",
           "meta.json not JSON")

API, SAFETY, FAULTS = "test_server_api.py::", "test_server_safety.py::", "test_server_faults.py::"
DISK = "test_server_disk.py::"

# (case id, test node, input, expected); "{db}" cases run once per database
CASES = [
    ("server-same-record", API + "test_submit_wait_prints_the_record_facebench_evaluate_writes[{db}]",
     "`facebench submit --wait` (validation phase) vs `facebench evaluate` on the same files",
     "the same results record, every metric bit for bit"),
    ("server-token", API + "test_wrong_and_revoked_tokens_get_401[{db}]",
     "no token, a wrong token, a revoked user's token", "401, one line"),
    ("server-other-user", API + "test_another_users_submission_is_404_like_a_missing_one[{db}]",
     "another user's submission id", "404, the same answer as for a missing id"),
    ("server-invalid", API + "test_refused_submission_says_what_validate_says_and_costs_no_quota[{db}]",
     "a submission with a missing clip and a wrong shape",
     "422 with `facebench validate`'s lines; no quota used"),
    ("server-quota", API + "test_quota_per_day_and_in_total[{db}]",
     "more uploads than the quota allows (per 24 h, in total)", "429 naming the quota"),
    ("server-csrf", API + "test_browser_forms_need_the_session_csrf_token[{db}]",
     "browser log-in without its cookie; upload with a forged or no CSRF token", "403, nothing stored"),
    *[(f"server-hostile-{i}", SAFETY + f"test_hostile_upload_is_refused_with_one_line[{name}]",
       f"upload: {name}", "422, one line, nothing stored") for i, name in enumerate(HOSTILE)],
    ("server-oversized", SAFETY + "test_oversized_upload_is_refused_before_and_while_streaming",
     "upload over the size limit, with and without Content-Length",
     "413 before or while streaming, nothing stored"),
    ("server-quota-race", FAULTS + "test_quota_holds_under_concurrent_uploads[{db}]",
     "8 concurrent uploads against a quota of 3 per day",
     "exactly 3 accepted (each scored once), 5 refused 429"),
    ("server-50-concurrent",
     FAULTS + "test_fifty_concurrent_uploads_are_all_accepted_or_cleanly_refused[{db}]",
     "50 concurrent uploads on loopback (5 users, 2 workers)",
     "each accepted and scored once, or refused with one line; nothing lost"),
    ("server-worker-sigkill", FAULTS + "test_killed_workers_jobs_are_retried_and_scored_once[{db}]",
     "worker SIGKILLed after scoring (before storing) and after claiming",
     "jobs retried when their lease runs out; each scored once"),
    ("server-max-attempts", FAULTS + "test_a_job_that_keeps_killing_its_worker_fails_with_the_reason",
     "a job whose worker dies on every attempt", "failed with the reason; `submit status --wait` exits 2"),
    ("server-kill-server", FAULTS + "test_server_killed_mid_queue_loses_nothing[{db}]",
     "server and workers SIGKILLed mid-queue, then restarted", "every accepted upload scored exactly once"),
    ("server-sigterm", FAULTS + "test_sigterm_stops_the_server_and_its_workers",
     "SIGTERM to the server", "exit 0, its workers stopped"),
    ("server-second-server", FAULTS + "test_a_second_server_on_the_same_data_folder_is_refused",
     "a second server on the same data folder", "refused with one line"),
    ("server-db-locked", FAULTS + "test_locked_database_gives_503_and_nothing_half_done[{db}]",
     "the database write-locked by another process", "503 with one line; reads go on; nothing half done"),
    ("server-disk-full", DISK + "test_full_disk_gives_507_then_recovers",
     "full disk during an upload (4 MiB tmpfs)", "507 with one line, no partial file; recovers when freed"),
    ("server-disk-full-worker", DISK + "test_worker_waits_out_a_full_disk",
     "full disk when a worker stores a result", "the worker waits and stores it once space is back"),
]


def cases() -> list[tuple[str, str, str, str]]:
    """Every case with its database spelled out: (id, node, input, expected)."""
    out = []
    for case_id, node, what, expected in CASES:
        if "{db}" in node:
            out += [(f"{case_id}-{db}", node.format(db=db), f"{what} [{db}]", expected) for db in BACKENDS]
        else:
            out.append((case_id, node, what, expected))
    return out


def run(selected) -> list[tuple[str, bool, str, float]]:
    """Run the tests of ``selected`` cases; (id, passed, outcome, seconds) each."""
    nodes = [f"tests/{node}" for _, node, _, _ in selected]
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "server.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                        "-o", "junit_family=xunit1", *nodes], cwd=REPO, capture_output=True, text=True,
                       timeout=3600, env=dict(os.environ))
        results = {}
        for tc in ET.parse(xml).getroot().iter("testcase"):
            file = tc.get("file") or (tc.get("classname", "").split(".")[-1] + ".py")
            name = f"{Path(file).name}::{tc.get('name')}"
            props = {p.get("name"): p.get("value") for p in tc.iter("property")}
            problem = next((c for c in tc if c.tag in ("failure", "error", "skipped")), None)
            if problem is None:
                results[name] = (True, props.get("outcome", "passed"), float(tc.get("time", 0)))
            else:
                text = (problem.get("message") or problem.tag).splitlines()[0][:300]
                results[name] = (False, f"{problem.tag}: {text}", float(tc.get("time", 0)))
    rows = []
    for case_id, node, _, _ in selected:
        passed, outcome, seconds = results.get(node, (False, "not run (test not found)", 0.0))
        rows.append((case_id, passed, outcome, seconds))
    return rows


if __name__ == "__main__":
    t0 = time.perf_counter()
    for row in run(cases()):
        print(row)
    print(f"{time.perf_counter() - t0:.0f} s")
