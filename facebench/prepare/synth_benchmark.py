"""``prepare synth-v1``: the synthetic benchmark's GT, rendered by the generator with exact truth.

The benchmark definition (``datasets/synth-v1/benchmark.yaml``) carries a
``source`` section (generator preset, seed, participants, sequences, frames,
layout); this module renders those captures and lets the generator write its
exact truth as GT shards at the benchmark's stored resolution.  No fitting is
involved: this GT is the reference that ``prepare nersemble``'s fidelity is
measured against.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from facebench.errors import FacebenchError


@dataclass
class SynthSummary:
    benchmark: str
    out: Path
    clips: int
    frames: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.benchmark}: {self.clips} clips, {self.frames} frames of exact GT "
                f"in {self.seconds:.1f} s\nground truth in {self.out}/manifest.json")


def prepare_synth_benchmark(name: str = "synth-v1", out=None, capture=None,
                            progress: bool = True) -> SynthSummary:
    """Render benchmark ``name``'s synthetic captures and write their exact GT into ``out``.

    ``out`` defaults to ``$FACEBENCH_HOME/gt/{name}``; ``capture`` keeps the rendered
    capture (default: a temporary folder removed afterwards).  A folder that already
    holds this benchmark's GT is left as is (the generator is deterministic).
    """
    from facebench.benchmarks import get_benchmark
    from facebench.io.shards import GTWriter, write_json_atomic
    from facebench.settings import get_settings
    from facebench.synth import synthesize

    bench = get_benchmark(name)
    src = dict(bench.source)
    if src.get("generator") != "synth":
        raise FacebenchError(f"benchmark {name} is not synthetic (source.generator = "
                             f"{src.get('generator')!r}); use `facebench prepare nersemble`")
    out = Path(out) if out is not None else get_settings().gt_dir(name)
    start = time.perf_counter()
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        import json

        manifest = json.loads(manifest_path.read_text())
        if manifest.get("benchmark") == name and manifest.get("clips"):
            return SynthSummary(name, out, len(manifest["clips"]),
                                sum(c["T"] for c in manifest["clips"]), time.perf_counter() - start)
    writer = GTWriter(out, template=_template_info(bench.template), dataset="synth", config={})
    with writer.locked():  # a second run on the same folder refuses instead of interleaving shards
        tmp = None
        if capture is None:
            tmp = Path(tempfile.mkdtemp(prefix=f"facebench-{name}-"))
            capture = tmp / "capture"
        try:
            synthesize(capture, preset=src.get("preset", "small"), layout=src.get("layout", "v1"),
                       seed=int(src.get("seed", 0)),
                       participants=list(src.get("participants") or bench.split.participants),
                       sequences=src.get("sequences"), frames=src.get("frames"),
                       stride=int(src.get("stride", 1)), truth_gt=out,
                       gt_resolution=(bench.width, bench.height), template=bench.template, progress=progress,
                       truth_dir=(tmp / "truth") if tmp is not None else None)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        manifest = writer.load_manifest()
        manifest["benchmark"] = name
        write_json_atomic(manifest_path, manifest)
    return SynthSummary(name, out, len(manifest["clips"]), sum(c["T"] for c in manifest["clips"]),
                        time.perf_counter() - start)


def _template_info(name: str) -> dict:
    from facebench.templates import load

    t = load(name)
    return {"name": t.name, "sha256": t.sha256, "center": list(map(float, t.center)), "scale": float(t.scale)}
