"""A server's settings: its data folder, database, GT per benchmark and phase, quotas and limits.

Settings come from an optional YAML file (``DATA/server.yaml``, or ``--config``) and
from the command line, which wins::

    # DATA/server.yaml -- every key optional
    max_upload_mb: 256          # larger uploads are refused while streaming (413)
    lease_s: 60                 # a job whose worker stops renewing its lease this long is retried
    max_attempts: 3             # scoring attempts before a submission is marked failed
    benchmarks:
      synth-v2:
        test:       {gt: /srv/gt/synth-v2,     per_day: 3,  total: 30}
        validation: {gt: /srv/gt/synth-v2-val, per_day: 20}

``--gt synth-v2=/srv/gt/synth-v2`` names the test GT, ``--gt synth-v2:validation=DIR``
the validation GT.  A quota counts the user's *accepted* submissions to one benchmark
and phase: ``per_day`` over the last 24 hours, ``total`` ever; ``null`` is no limit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from facebench.errors import FacebenchError, InputError, did_you_mean

PHASES = ("test", "validation")
DB_ENV = "FACEBENCH_SERVER_DB"
CONFIG_NAME = "server.yaml"
SQLITE_NAME = "facebench-server.sqlite3"


@dataclass(frozen=True)
class Quota:
    per_day: int | None = None     # accepted submissions in the last 24 hours
    total: int | None = None       # accepted submissions ever


DEFAULT_QUOTA = {"test": Quota(per_day=3, total=30), "validation": Quota(per_day=20, total=None)}


@dataclass(frozen=True)
class Track:
    """One benchmark and phase a server scores: where its GT is and how often users may submit."""

    benchmark: str
    phase: str
    gt_dir: Path
    quota: Quota


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    db_url: str
    tracks: tuple[Track, ...] = ()
    max_upload_bytes: int = 256 << 20
    lease_s: float = 60.0
    max_attempts: int = 3
    poll_s: float = 0.5
    busy_timeout_s: float = 10.0
    session_hours: float = 12.0

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def submissions_dir(self) -> Path:
        return self.data_dir / "submissions"

    def track(self, benchmark: str, phase: str) -> Track | None:
        return next((t for t in self.tracks if (t.benchmark, t.phase) == (benchmark, phase)), None)


TOP_KEYS = ("max_upload_mb", "lease_s", "max_attempts", "poll_s", "busy_timeout_s", "session_hours",
            "benchmarks")
TRACK_KEYS = ("gt", "per_day", "total")


def default_db_url(data_dir) -> str:
    """``$FACEBENCH_SERVER_DB`` if set, else an SQLite file in the data folder."""
    return os.environ.get(DB_ENV) or f"sqlite:///{Path(data_dir).resolve() / SQLITE_NAME}"


def parse_gt_option(text: str) -> tuple[str, str, Path]:
    """``BENCHMARK[:PHASE]=GT_DIR`` -> (benchmark, phase, path); phase defaults to test."""
    key, sep, path = text.partition("=")
    if not sep or not key or not path:
        raise InputError(f"--gt {text!r}: expected BENCHMARK=GT_DIR or BENCHMARK:PHASE=GT_DIR")
    benchmark, _, phase = key.partition(":")
    phase = phase or "test"
    if phase not in PHASES:
        raise InputError(f"--gt {text!r}: unknown phase {phase!r}{did_you_mean(phase, PHASES)} "
                         f"(phases: {', '.join(PHASES)})")
    return benchmark, phase, Path(path)


def load_config(data_dir, *, db: str | None = None, gt=(), config_file=None, **overrides) -> ServerConfig:
    """The settings of the server whose state lives in ``data_dir`` (see the module doc)."""
    data_dir = Path(data_dir).resolve()
    raw = _read_yaml(config_file if config_file is not None else data_dir / CONFIG_NAME,
                     required=config_file is not None)
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise InputError(f"server config: unknown key {unknown[0]!r}{did_you_mean(unknown[0], TOP_KEYS)}")
    tracks: dict[tuple[str, str], Track] = {}
    for benchmark, phases in (raw.get("benchmarks") or {}).items():
        if not isinstance(phases, dict):
            raise InputError(f"server config: benchmarks.{benchmark} must map phases to settings")
        for phase, spec in phases.items():
            tracks[benchmark, phase] = _track(benchmark, phase, spec or {})
    for option in gt:
        benchmark, phase, path = parse_gt_option(option)
        old = tracks.get((benchmark, phase))
        quota = old.quota if old else DEFAULT_QUOTA[phase]
        tracks[benchmark, phase] = Track(benchmark, phase, path.resolve(), quota)
    settings = {"tracks": tuple(tracks[k] for k in sorted(tracks))}
    if "max_upload_mb" in raw:
        settings["max_upload_bytes"] = int(float(raw["max_upload_mb"]) * (1 << 20))
    for key in ("lease_s", "poll_s", "busy_timeout_s", "session_hours"):
        if key in raw:
            settings[key] = float(raw[key])
    if "max_attempts" in raw:
        settings["max_attempts"] = int(raw["max_attempts"])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    config = ServerConfig(data_dir=data_dir, db_url=db or default_db_url(data_dir), **settings)
    if config.max_upload_bytes <= 0 or config.lease_s <= 0 or config.max_attempts < 1:
        raise InputError("server config: max_upload_mb, lease_s and max_attempts must be positive")
    return config


def check_tracks(config: ServerConfig) -> ServerConfig:
    """Every track names a known benchmark and a GT folder holding that benchmark's GT."""
    from facebench.benchmarks import get_benchmark
    from facebench.io.shards import GTReader

    checked = []
    for track in config.tracks:
        bench = get_benchmark(track.benchmark)
        if not (track.gt_dir / "manifest.json").is_file():
            raise InputError(f"no GT manifest.json for {track.benchmark} ({track.phase})", track.gt_dir)
        with GTReader(track.gt_dir) as reader:
            if reader.benchmark not in (None, bench.name):
                raise FacebenchError(f"{track.gt_dir} holds GT for benchmark {reader.benchmark!r}, "
                                     f"not {bench.name!r}")
        checked.append(replace(track, benchmark=bench.name))
    return replace(config, tracks=tuple(checked))


def _track(benchmark: str, phase: str, spec: dict) -> Track:
    if phase not in PHASES:
        raise InputError(f"server config: benchmarks.{benchmark}: unknown phase {phase!r}"
                         f"{did_you_mean(phase, PHASES)}")
    unknown = [k for k in spec if k not in TRACK_KEYS]
    if unknown:
        raise InputError(f"server config: benchmarks.{benchmark}.{phase}: unknown key {unknown[0]!r}"
                         f"{did_you_mean(unknown[0], TRACK_KEYS)}")
    if not spec.get("gt"):
        raise InputError(f"server config: benchmarks.{benchmark}.{phase} needs gt: GT_DIR")
    default = DEFAULT_QUOTA[phase]
    quota = Quota(per_day=_limit(spec.get("per_day", default.per_day)),
                  total=_limit(spec.get("total", default.total)))
    return Track(benchmark, phase, Path(spec["gt"]).expanduser().resolve(), quota)


def _limit(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"server config: a quota is a whole number >= 0 or null, not {value!r}")
    return value


def _read_yaml(path, required: bool) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        if required:
            raise InputError("server config file not found", path)
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"unreadable server config ({exc.__class__.__name__}: {exc})", path) from None
    if not isinstance(data, dict):
        raise InputError("server config must be a YAML mapping", path)
    return data
