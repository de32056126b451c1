"""Fault cases of ``prepare`` and ``verify`` for benchmarks/reliability_report.py.

Every case runs real ``facebench`` processes (``python -m facebench ...``) on a
tiny synthetic capture (tests/capture_faults.py) and returns ``(passed, outcome)``:
what was measured, in one line.  ``Case.run(work)`` gets a :class:`Work` holding
the capture, the fast pipeline configuration and an uninterrupted reference run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.capture_faults import BROKEN, FAST_CONFIG, FAULTS, RESOLUTION, broken_copy, make_capture  # noqa: E402


@dataclass
class Case:
    id: str
    group: str
    input: str
    expected: str
    run: Callable = field(repr=False)


@dataclass
class Work:
    """Shared inputs: capture, config file, reference GT and its wall time."""

    root: Path
    capture: Path = None
    config: Path = None
    reference: Path = None
    reference_s: float = 0.0
    code: Path = None

    def setup(self) -> Work:
        import yaml

        self.snapshot_code()
        self.capture = make_capture(self.root / "capture")
        self.config = self.root / "fast.yaml"
        self.config.write_text(yaml.safe_dump(FAST_CONFIG))
        proc = subprocess.Popen(prepare_cmd(self, self.capture, self.root / "reference"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                **self.popen_kwargs())
        t_lock = wait_for_lock(proc, self.root / "reference")
        stderr = proc.communicate()[1]
        self.reference_s = time.perf_counter() - t_lock  # from taking the lock to the end
        if proc.returncode != 0:
            raise RuntimeError(f"the uninterrupted reference run failed: {stderr[-2000:]}")
        self.reference = self.root / "reference"
        return self

    def snapshot_code(self) -> None:
        """Copy facebench (and its data folders) once: every run uses the same code, even when the
        working tree changes during the report (comparisons with the reference need that)."""
        self.code = self.root / "code"
        skip = shutil.ignore_patterns("__pycache__")
        for name in ("facebench", "pipelines", "datasets"):
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, self.code / name, ignore=skip)

    def popen_kwargs(self, env=None) -> dict:
        """Subprocess options: the snapshot first on the path, started outside the repository."""
        return {"cwd": self.root, "env": {**os.environ, "PYTHONPATH": str(self.code), **(env or {})}}

    def fresh(self, name: str) -> Path:
        path = self.root / name
        shutil.rmtree(path, ignore_errors=True)
        return path


def wait_for_lock(proc: subprocess.Popen, out: Path, timeout: float = 600) -> float:
    """perf_counter() when ``proc`` holds the lock of ``out`` (it writes its pid there)."""
    lock = out / ".lock"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return time.perf_counter()
        time.sleep(0.05)
    raise RuntimeError(f"{out}: the run never took the lock (exit {proc.poll()})")


def prepare_cmd(work: Work, capture, out, *extra) -> list[str]:
    return [
        sys.executable,
        "-m",
        "facebench",
        "prepare",
        "nersemble",
        "--root",
        str(capture),
        "--out",
        str(out),
        "--config",
        str(work.config),
        "--resolution",
        str(RESOLUTION),
        *extra,
    ]


def prepare(work: Work, capture, out, *extra, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        prepare_cmd(work, capture, out, *extra),
        capture_output=True,
        text=True,
        timeout=1800,
        **work.popen_kwargs(env),
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("facebench:")]


def short(text: str, root: Path) -> str:
    return text.replace(str(root), "TMP").replace("|", "\\|")


# -- broken inputs --------------------------------------------------------------------------------
def broken_raise(fault: str):
    def run(work: Work):
        capture = work.fresh(f"in-{fault}")
        damaged = broken_copy(work.capture, fault, capture)
        out = work.fresh(f"gt-raise-{fault}")
        proc = prepare(work, capture, out, "--sequences", BROKEN)
        lines = error_lines(proc.stderr)
        shards = list(out.glob("shards/*.h5"))
        ok = (
            proc.returncode == 2
            and len(lines) == 1
            and str(damaged) in lines[0]
            and FAULTS[fault][2] in lines[0]
            and not shards
        )
        return ok, short(f"exit {proc.returncode}, {len(shards)} shards: {' / '.join(lines)}", work.root)

    return run


def broken_skip(fault: str):
    def run(work: Work):
        capture = work.fresh(f"in-{fault}")
        damaged = broken_copy(work.capture, fault, capture)
        out = work.fresh(f"gt-skip-{fault}")
        proc = prepare(work, capture, out, "--sequences", BROKEN, "--on-error", "skip")
        manifest = json.loads((out / "manifest.json").read_text())
        failures = manifest["failures"]
        ok = (
            proc.returncode == 0
            and len(failures) == 1
            and failures[0]["sequence"] == BROKEN
            and str(damaged) in failures[0]["error"]
            and not manifest["shards"]
            and not list(out.glob("shards/*.h5"))
        )
        return ok, short(
            f"exit {proc.returncode}, {len(manifest['shards'])} shards, manifest failures: "
            f"{[f['participant'] + '/' + f['sequence'] for f in failures]}",
            work.root,
        )

    return run


def skip_goes_on(work: Work):
    from facebench.io.shards import dataset_hashes, validate_gt

    capture = work.fresh("in-skip-goes-on")
    broken_copy(work.capture, "depth_wrong_size", capture)
    out = work.fresh("gt-skip-goes-on")
    proc = prepare(work, capture, out, "--on-error", "skip")
    manifest = json.loads((out / "manifest.json").read_text())
    same = dataset_hashes(out / "shards/shard-00000.h5") == dataset_hashes(
        work.reference / "shards/shard-00000.h5"
    )
    problems = validate_gt(out, check_hashes=True)
    ok = proc.returncode == 0 and len(manifest["failures"]) == 1 and same and not problems
    return ok, (
        f"exit {proc.returncode}; committed {sorted({c['sequence'] for c in manifest['clips']})}, "
        f"failed {[f['sequence'] for f in manifest['failures']]}; good shard identical to the "
        f"uninterrupted run: {same}; validate_gt: {problems or 'ok'}"
    )


# -- kills ------------------------------------------------------------------------------------------
def partial_visible(out: Path, reference: Path) -> list[str]:
    """What a reader could wrongly see: listed shards not intact, unlisted final-name shards that differ."""
    from facebench.io.gt_verify import verify_gt
    from facebench.io.shards import dataset_hashes

    problems, listed = [], set()
    if (out / "manifest.json").exists():
        report = verify_gt(out)
        listed = {s.file for s in report.shards}
        problems += [] if report.ok else [str(report)]
    for path in sorted(out.glob("shards/shard-*.h5")):
        rel = f"shards/{path.name}"
        if rel not in listed and dataset_hashes(path) != dataset_hashes(reference / rel):
            problems.append(f"{rel} partial")
    return problems


def same_as_reference(out: Path, reference: Path) -> bool:
    from facebench.io.shards import dataset_hashes

    names = sorted(p.name for p in reference.glob("shards/shard-*.h5"))
    return (
        sorted(p.name for p in out.glob("shards/shard-*.h5")) == names
        and all(dataset_hashes(out / "shards" / n) == dataset_hashes(reference / "shards" / n) for n in names)
        and json.loads((out / "manifest.json").read_text())
        == json.loads((reference / "manifest.json").read_text())
    )


CHAIN = ("manifest-temp-written:1", "shard-temp-written:2", "shard-renamed:1", "sequence-committed:1")


def crash_chain(work: Work):
    """Four runs on one folder, each SIGKILLed at the next crash point, then a plain resume."""
    out = work.fresh("gt-chain")
    seen = []
    for crash_at in CHAIN:
        proc = prepare(work, work.capture, out, env={"FACEBENCH_CRASH_AT": crash_at})
        problems = partial_visible(out, work.reference)
        listed = (
            json.loads((out / "manifest.json").read_text())["shards"]
            if (out / "manifest.json").exists()
            else []
        )
        seen.append(
            f"{crash_at}: {'SIGKILL' if proc.returncode == -9 else proc.returncode}, "
            f"{len(listed)} listed, {'nothing partial' if not problems else problems}"
        )
        if proc.returncode != -signal.SIGKILL or problems:
            return False, "; ".join(seen)
    proc = prepare(work, work.capture, out)
    same = proc.returncode == 0 and same_as_reference(out, work.reference)
    return same, "; ".join(seen) + f"; resume: exit {proc.returncode}, identical to uninterrupted run: {same}"


def random_kill(seed: int):
    """SIGKILL at a random moment after the run takes the lock; if the run finished first (the
    machine got faster than during the reference run), retry with half the delay."""

    def run(work: Work):
        delay = random.Random(seed).uniform(0.05, 0.8) * work.reference_s
        for attempt in range(1, 5):  # noqa: B007 (reported after the loop)
            out = work.fresh(f"gt-kill-{seed}")
            proc = subprocess.Popen(prepare_cmd(work, work.capture, out), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, **work.popen_kwargs())
            wait_for_lock(proc, out)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            code = proc.wait()
            if code == -signal.SIGKILL:
                break
            delay /= 2
        manifest = out / "manifest.json"
        listed = json.loads(manifest.read_text())["shards"] if manifest.exists() else []
        problems = partial_visible(out, work.reference)
        resumed = prepare(work, work.capture, out)
        same = resumed.returncode == 0 and same_as_reference(out, work.reference)
        return (code == -signal.SIGKILL and not problems and same), (
            f"SIGKILL {delay:.1f} s after it took the lock (exit {code}, attempt {attempt}), with "
            f"{len(listed)} of 2 sequences committed; {'nothing partial' if not problems else problems}; "
            f"resumed: identical to uninterrupted run: {same}"
        )

    return run


def concurrent(work: Work):
    """Run A (default pipeline, slow) holds the lock; run B on the same folder starts meanwhile."""
    out = work.fresh("gt-concurrent")
    cmd_a = [c for c in prepare_cmd(work, work.capture, out)]
    cmd_a[cmd_a.index("--config") + 1] = str(work.root / "slow.yaml")
    (work.root / "slow.yaml").write_text("{}\n")  # the shipped defaults: minutes, not seconds
    a = subprocess.Popen(cmd_a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         **work.popen_kwargs())
    wait_for_lock(a, out)
    b = prepare(work, work.capture, out)
    a_running = a.poll() is None
    a_code = a.wait()
    from facebench.io.gt_verify import verify_gt

    report = verify_gt(out)
    lines = error_lines(b.stderr)
    ok = (
        a_running
        and b.returncode == 2
        and len(lines) == 1
        and f"pid {a.pid}" in lines[0]
        and a_code == 0
        and report.ok
        and len(report.shards) == 2
    )
    return ok, short(
        f"B: exit {b.returncode}: {' / '.join(lines)}; A: exit {a_code}, "
        f"verify {'OK' if report.ok else 'FAILED'} ({len(report.shards)} shards)",
        work.root,
    )


# -- verify -----------------------------------------------------------------------------------------
def verify_case(damage: Callable, expect_code: int):
    def run(work: Work):
        out = work.fresh("gt-verify")
        shutil.copytree(work.reference, out)
        damage(out)
        proc = subprocess.run(
            [sys.executable, "-m", "facebench", "verify", str(out), "--quiet"],
            capture_output=True,
            text=True,
            timeout=600,
            **work.popen_kwargs(),
        )
        bad = [
            line.strip() for line in proc.stdout.splitlines() if line.strip().startswith(("BAD", "verify:"))
        ]
        return proc.returncode == expect_code, short(f"exit {proc.returncode}: {' / '.join(bad)}", work.root)

    return run


def flip_byte(out: Path):
    path = out / "shards/shard-00001.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate_shard(out: Path):
    path = out / "shards/shard-00000.h5"
    path.write_bytes(path.read_bytes()[:4096])


def _copy_shard(out: Path):
    shutil.copy(out / "shards/shard-00000.h5", out / "shards/shard-00009.h5")


# (id, group, input, expected, run) for the cases that do not depend on a fault or a seed
_FIXED = [
    ("skip-goes-on", "Preparation: --on-error skip", "depth PNG of the wrong size in 1 of 2 sequences",
     "the other sequence is committed, identical to an uninterrupted run", skip_goes_on),
    ("kill-crash-points", "Preparation: SIGKILL and resume",
     "4 runs, each SIGKILLed at the next crash point (FACEBENCH_CRASH_AT): " + ", ".join(CHAIN),
     "nothing partial visible after any kill; resume identical to an uninterrupted run", crash_chain),
]
_AFTER = [
    ("concurrent", "Preparation: concurrent runs", "a second prepare on the same --out while the first runs",
     "the second exits 2 naming the first's pid; the first completes intact", concurrent),
    ("verify-intact", "verify", "an intact GT folder", "exit 0", verify_case(lambda out: None, 0)),
    ("verify-flipped-byte", "verify", "one byte flipped in a shard", "exit 2, sha256 mismatch",
     verify_case(flip_byte, 2)),
    ("verify-truncated", "verify", "a shard cut to 4 kB", "exit 2", verify_case(truncate_shard, 2)),
    ("verify-missing", "verify", "a shard deleted", "exit 2",
     verify_case(lambda out: (out / "shards/shard-00000.h5").unlink(), 2)),
    ("verify-unlisted", "verify", "an extra shard file not in the manifest", "exit 0 (listed as ignored)",
     verify_case(_copy_shard, 0)),
]


def CASES() -> list[Case]:
    """Every preparation and verify case, in report order."""
    cases = [Case(f"prepare-{fault}", "Preparation: broken inputs", what,
                  f"exit 2, one line naming the file ({words!r}), no shard", broken_raise(fault))
             for fault, (_, what, words) in FAULTS.items()]
    cases += [Case(f"skip-{fault}", "Preparation: --on-error skip", what,
                   "exit 0, failure recorded in manifest.json, no shard", broken_skip(fault))
              for fault, (_, what, _) in FAULTS.items()]
    cases += [Case(*row) for row in _FIXED]
    cases += [Case(f"kill-random-{seed}", "Preparation: SIGKILL and resume",
                   f"SIGKILL at a random moment (seed {seed}): 5-80% of a normal run's time after the lock",
                   "nothing partial visible; resume identical to an uninterrupted run", random_kill(seed))
              for seed in range(5)]
    return cases + [Case(*row) for row in _AFTER]
