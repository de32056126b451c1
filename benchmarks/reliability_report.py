"""Try every fault and bad input of facebench and write docs/RELIABILITY.md from what happened.

    nice python benchmarks/reliability_report.py [--out docs/RELIABILITY.md] [--only PREFIX ...]

Cases (see :func:`all_cases`):

* preparation (benchmarks/reliability_prepare.py): broken capture files with and
  without ``--on-error skip``, SIGKILL at every crash point and after random
  delays followed by a resume, two concurrent runs, ``facebench verify`` on
  damaged folders -- all as real ``python -m facebench`` processes on a tiny
  synthetic capture;
* untrusted predictions (benchmarks/reliability_predictions.py, owned by
  evaluate): each bad submission is evaluated against a small synthetic GT;
* the hypothesis fuzz tests of the prediction loader (tests/test_predictions_fuzz.py);
* the hosted benchmark (benchmarks/reliability_server.py): faults and hostile uploads
  against a real `facebench serve` over loopback, on SQLite and on PostgreSQL
  (``FACEBENCH_TEST_POSTGRES_URL``; ``bash .ci/postgres.sh`` starts one).

Every row says what was expected and what was measured; the document is rewritten
as a whole.  tests/test_reliability_report.py checks that it lists exactly the
cases below (not their timings).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import reliability_predictions as preds_cases  # noqa: E402
import reliability_prepare as prep_cases  # noqa: E402
import reliability_server as server_cases  # noqa: E402

PREDICTIONS_GROUP = "Untrusted predictions"
# Submissions that are valid (or allowed) and must be scored; every other case must be refused.
SCORED = {
    "valid folder",
    "valid .zip (files inside one top folder)",
    "inf where the GT is invalid (allowed)",
    "missing clip, --allow-missing",
}
FUZZ = prep_cases.Case(
    "fuzz-predictions",
    "Untrusted predictions: fuzzing",
    "hypothesis: malformed arrays, mutated and random .npz bytes, meta.json, zips, validate "
    "(tests/test_predictions_fuzz.py)",
    "every input ends in a clean error or a score: no traceback, no hang",
    None,
)


def prediction_case(name: str, fn) -> prep_cases.Case:
    expected = "scored" if name in SCORED else "refused with one line"
    return prep_cases.Case(name, PREDICTIONS_GROUP, name, expected, fn)


def server_case(case_id: str, node: str, what: str, expected: str) -> prep_cases.Case:
    return prep_cases.Case(case_id, server_cases.GROUP, what, expected, node)


def all_cases() -> list:
    """Every case, in report order (nothing is run)."""
    return (prep_cases.CASES() + [prediction_case(name, fn) for name, fn in preds_cases.CASES] + [FUZZ]
            + [server_case(*c) for c in server_cases.cases()])


def run_server_cases(cases) -> list:
    by_id = {c.id: c for c in cases}
    rows = []
    for case_id, passed, outcome, seconds in server_cases.run([(c.id, c.run, c.input, c.expected)
                                                               for c in cases]):
        rows.append((by_id[case_id], passed, outcome, seconds))
        print(_row(*rows[-1]), flush=True)
    return rows


def run_prediction_cases(cases, tmp: Path) -> list:
    gt, template = preds_cases.build(tmp / "preds-gt", clips=2, T=2, W=16, N=4)
    (template / "meta.json").write_text(json.dumps({"method": "gt+noise", "benchmark": "synth-v1"}))
    rows = []
    for case in cases:
        t0 = time.perf_counter()
        outcome, message, peak, _ = preds_cases.run_case(case.run, gt, template)
        seconds = time.perf_counter() - t0
        one_line = "\n" not in message
        passed = one_line and (outcome == "scored") == (case.expected == "scored")
        rows.append((case, passed, f"{outcome}: {message} (peak {peak:.1f} MiB)", seconds))
        print(_row(*rows[-1]), flush=True)
    return rows


def run_fuzz() -> tuple:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
            str(REPO / "tests" / "test_predictions_fuzz.py"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=3600,
    )
    examples = sum(int(n) for n in re.findall(r"- (\d+) passing, \d+ failing", proc.stdout))
    summary = (proc.stdout.strip().splitlines() or ["no output"])[-1].strip("= ")
    return (
        FUZZ,
        proc.returncode == 0,
        f"{summary}; {examples} generated inputs passed",
        time.perf_counter() - t0,
    )


def _row(case, passed, outcome, seconds) -> str:
    cells = [
        f"`{case.id}`" if case.group != PREDICTIONS_GROUP else case.id,
        case.input,
        case.expected,
        outcome,
        f"{seconds:.1f}",
        "pass" if passed else "**FAIL**",
    ]
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


HEADER = "| case | input | expected | outcome (measured) | s | result |\n|---|---|---|---|---|---|"

GUARANTEES = """## What holds, and how

* **A killed `prepare` loses nothing committed and leaves nothing half-visible.** Each shard is
  written under a temporary name (`shards/.shard-00001.h5.tmp-PID`), fsynced and renamed into
  place; `manifest.json` is the commit record, itself replaced atomically. Readers open only
  shards listed in the manifest. Rerunning the same command resumes: sequences already
  committed with the same config hash are skipped, temporaries of the killed run are deleted,
  the rest is redone. Preparation is deterministic, so the resumed folder is identical
  (per-dataset sha256 and manifest) to an uninterrupted run.
* **One writer per output folder.** `prepare` holds an `flock` on `OUT/.lock` for its whole run;
  a second run on the same `--out` stops with one line naming the holder's pid. The kernel
  drops the lock when the holder dies, even by SIGKILL, so a crash never blocks the next run.
  (Limitation: Dask/Ray workers on other machines of a killed run are not stopped by the lock.)
* **Broken capture files give one line naming the file** and exit status 2. With
  `--on-error skip` the sequence is recorded under `failures` in manifest.json (participant,
  sequence, the same message) and the run goes on; no shard is written for it.
* **`facebench verify GT_DIR`** re-hashes every listed shard (sha256 and size against the
  manifest), opens it, and checks every dataset's shape and dtype against SPEC §4; it prints a
  per-shard report and exits 2 on any mismatch. Shard files not in the manifest and leftover
  temporaries are listed but are not errors (no reader opens them).
* **Untrusted predictions** are read without pickle, with every `.npz` member's declared size
  checked against the expected shape before decompression, no symlinks, and no archive entry
  that is absolute or contains `..`; see the table below and docs/FORMATS.md.
* **A hosted benchmark (`facebench serve`) scores every accepted upload exactly once.** Uploads
  stream to disk under a size limit and are checked by `facebench validate`'s code before they
  are accepted; the quota check and the insert share one locked transaction. The job queue is
  the database: a worker holds a renewed lease on the job it scores and stores the result only
  if the claim is still its own, with a `scored` event in the same transaction; a dead worker's
  job is retried when its lease runs out. Database locks and a full disk give one-line errors
  (503, 507) and leave nothing half done. See docs/SERVER.md.

Crash points for testing: `FACEBENCH_CRASH_AT=NAME[:N]` makes the process SIGKILL itself the
N-th time it reaches NAME (facebench/faults.py): `shard-temp-written`, `shard-renamed`,
`manifest-temp-written`, `sequence-committed`."""


def code_version() -> str:
    """The commit the report ran on (and whether the working tree differed from it)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    dirty = subprocess.run(["git", "status", "--porcelain", "facebench"], capture_output=True, text=True,
                           cwd=REPO)
    return (head.stdout.strip() or "unknown") + (" with uncommitted changes" if dirty.stdout.strip() else "")


def render(rows, seconds: float, version: str) -> str:
    n_pass = sum(1 for _, passed, _, _ in rows if passed)
    lines = [
        "# Reliability report",
        "",
        "_Generated by `nice python benchmarks/reliability_report.py`; do not edit by hand. "
        'Each row is a fault or bad input that was actually tried; "outcome" is what happened. '
        "Paths under the run's temporary folder are shown as TMP._",
        "",
        f"**{n_pass} of {len(rows)} cases pass** "
        f"(whole run {seconds / 60:.1f} min on a shared 2-core machine; facebench {version}).",
        "",
        GUARANTEES,
        "",
        "## How the cases were run",
        "",
        "Preparation cases run `python -m facebench prepare nersemble` on a tiny synthetic capture "
        "(1 participant, 2 sequences, 3 cameras, 2 frames, stored at 32 px; fast fit settings from "
        "tests/capture_faults.py). A *crash point* is a named place in the writer where "
        "`FACEBENCH_CRASH_AT=NAME[:N]` makes the process SIGKILL itself (facebench/faults.py). "
        '"Nothing partial visible" means: every shard listed in manifest.json exists with its '
        "recorded sha256 and passes the schema check, and every `shard-*.h5` not listed is identical "
        "to the uninterrupted run's (readers ignore it; the next run rewrites it).",
    ]
    group = None
    for case, passed, outcome, secs in rows:
        if case.group != group:
            group = case.group
            lines += ["", f"## {group}", ""]
            if group == PREDICTIONS_GROUP:
                lines += [
                    "Cases from benchmarks/reliability_predictions.py: each submission is evaluated "
                    "against a 2-clip synthetic GT; peak is Python heap memory (tracemalloc).",
                    "",
                ]
            if group == server_cases.GROUP:
                lines += [
                    "Cases from benchmarks/reliability_server.py: tests of tests/test_server_*.py that "
                    "run `python -m facebench serve` and its workers as real processes on a loopback "
                    "port, with a real database (SQLite in WAL mode, or a PostgreSQL database made for "
                    "the test), on tiny synthetic GT. The outcome is what the test measured.",
                    "",
                ]
            lines.append(HEADER)
        lines.append(_row(case, passed, outcome, secs))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "RELIABILITY.md"))
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="run only cases whose id starts with these (prints rows, does not write the report)",
    )
    args = parser.parse_args(argv)
    cases = all_cases()
    if args.only:
        cases = [c for c in cases if c.id.startswith(tuple(args.only))]
    t0 = time.perf_counter()
    version = code_version()  # before the code snapshot is taken
    rows = []
    with tempfile.TemporaryDirectory(prefix="facebench-reliability-") as tmp:
        tmp = Path(tmp)
        prepare_cases = [c for c in cases if c.group not in (PREDICTIONS_GROUP, FUZZ.group,
                                                             server_cases.GROUP)]
        if prepare_cases:
            work = prep_cases.Work(tmp).setup()
            for case in prepare_cases:
                start = time.perf_counter()
                passed, outcome = case.run(work)
                rows.append((case, passed, outcome.replace(str(tmp), "TMP"), time.perf_counter() - start))
                print(_row(*rows[-1]), flush=True)
        rows += run_prediction_cases([c for c in cases if c.group == PREDICTIONS_GROUP], tmp)
        if FUZZ in cases:
            rows.append(run_fuzz())
            print(_row(*rows[-1]), flush=True)
        served = [c for c in cases if c.group == server_cases.GROUP]
        if served:
            rows += run_server_cases(served)
    if args.only is None:
        Path(args.out).write_text(render(rows, time.perf_counter() - t0, version))
        print(f"wrote {args.out}")
    return 0 if all(passed for _, passed, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
