"""Fidelity of GT from registered meshes (``prepare multiface`` / ``prepare ava256``) on synthetic captures.

A synthetic ICT subject with fine relief is rendered by ``facebench synth`` and rewritten
in the dataset's layout by the test builders (``tests/registered_builders.py`` for
Multiface, ``tests/ava256_builder.py`` for Ava-256): the registered mesh is a decimated,
re-ordered cut of the subject's skin (not the template's topology).  ``prepare`` then
builds the GT and :func:`facebench.prepare.fidelity_free.measure` scores it against the
capture's exact truth (canonical consistency of fixed physical points, track EPE and
visibility, depth error, coverage, absolute canonical error: subject and template are
both ict-light).  ``--compare-depth`` also prepares the same capture's NeRSemble-layout
render with ``prepare nersemble`` (template fitted to fused depth) for comparison::

    nice .venv/bin/python benchmarks/bench_registered.py --dataset multiface --work /tmp/br --compare-depth
    nice .venv/bin/python benchmarks/bench_registered.py --dataset ava256 --work /tmp/br

(The Ava-256 builder renders its own rig and keeps no NeRSemble-layout copy: no
``--compare-depth`` there.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEUTRAL, SCORED = "E001_Neutral_Eyes_Open", "E057_Cheeks_Puffed"
PRESET_SIZE = {"tiny": (62, 96), "small": (244, 374)}  # Ava-256 builder: image size per synth preset
# (the 2668 x 4096 aspect ratio: the reader refuses images of another)
KEYS = ("consistency_median_mm", "consistency_p90_mm", "temporal_consistency_median_mm",
        "cross_view_consistency_median_mm", "track_epe_median_px", "track_epe_p90_px",
        "track_visibility_agreement", "coverage", "depth_error_median_mm", "depth_error_p90_mm",
        "canonical_abs_median_mm", "canonical_abs_p90_mm")


def build(dataset: str, work: Path, args) -> dict:
    """The synthetic capture in ``dataset``'s layout (reused when already built)."""
    sys.path.insert(0, str(ROOT))
    done = work / f"{dataset}.json"
    if done.exists():
        return json.loads(done.read_text())
    if dataset == "multiface":
        from tests.registered_builders import build_multiface

        info = build_multiface(work / "multiface", expressions=(NEUTRAL, SCORED), frames=args.frames,
                               stride=args.stride, preset=args.preset, seed=args.seed)
        out = {"root": str(info["root"]), "truth": str(info["truth"]), "synth": str(info["synth"]),
               "cameras": info["cameras"], "sequence": SCORED, "pid": info["pid"]}
    else:
        out = build_ava256_with_truth(work, args)
    done.write_text(json.dumps(out))
    return out


def build_ava256_with_truth(work: Path, args) -> dict:
    """``tests/ava256_builder.build_ava256`` plus a truth folder in ``facebench synth``'s format."""
    import numpy as np

    from facebench.synth.render_job import CaptureConfig, Participant
    from facebench.templates import load
    from tests.ava256_builder import build_ava256

    sid, neutral, scored = "AAN112", "EXP_neutral_peak", "EXP_free_face"
    frames = tuple(103 + args.stride * i for i in range(args.frames))
    width, height = PRESET_SIZE[args.preset]
    build = build_ava256(work / "ava256", sids=(sid,), segments={neutral: (100,), scored: frames},
                         n_cameras=args.cameras, width=width, height=height, seed=args.seed, image_ext="png")
    truth = work / "ava256-truth"
    for seg, ids in ((neutral, (100,)), (scored, frames)):
        (truth / sid / seg).mkdir(parents=True, exist_ok=True)
        verts = np.stack([build.template_vertices[(sid, f)] for f in ids]).astype(np.float32)
        np.savez_compressed(truth / sid / seg / "truth.npz", frame_ids=np.asarray(ids), vertices=verts)
    ict = load("ict-light")
    cfg = CaptureConfig(out="", truth="", layout="v1", seed=args.seed, n_cameras=args.cameras, width=width,
                        height=height, frame_ids=frames)
    p = Participant(ict, sid, cfg)
    (truth / sid / "identity.json").write_text(json.dumps({"shape": p.identity.shape.tolist()}))
    (truth / "synth.json").write_text(json.dumps({"template": "ict-light", "seed": args.seed}))
    names = sorted({name for (_, name) in build.cameras})
    return {"root": str(build.root), "truth": str(truth), "synth": None, "cameras": {n: n for n in names},
            "sequence": scored, "pid": sid}


def run(args) -> dict:
    from facebench.prepare.fidelity_free import measure
    from facebench.prepare.registered import prepare_registered
    from facebench.templates import load

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = build(args.dataset, work, args)
    t_build = time.perf_counter() - t0
    names = sorted(info["cameras"].values())[: args.cameras]
    gt = work / (f"gt-{args.dataset}" + ("" if args.config is None else f"-{Path(args.config).stem}"))
    summary = prepare_registered(args.dataset, info["root"], gt, sequences=info["sequence"],
                                 cameras=",".join(names), config=args.config, progress=False)
    ict = load("ict-light")
    row = {"method": f"prepare {args.dataset} (registered mesh)", "build_s": round(t_build, 1),
           "prepare_s": round(summary.seconds, 1), "stage_cpu_s": {k: round(v, 1) for k, v in
                                                                   summary.stage_cpu_seconds.items()},
           **measure(info["truth"], gt, template=ict, subject=ict, n_points=args.points)}
    rows = [row]
    if args.compare_depth and info.get("synth"):
        from facebench.prepare import prepare_nersemble

        serial_of = {name: s for s, name in info["cameras"].items()}
        gt_d = work / f"gt-{args.dataset}-depth"
        s = prepare_nersemble(info["synth"], gt_d, sequences=info["sequence"],
                              cameras=",".join(serial_of[n] for n in names), progress=False)
        rows.append({"method": "prepare nersemble (fused depth), same render",
                     "prepare_s": round(s.seconds, 1),
                     "stage_cpu_s": {k: round(v, 1) for k, v in s.stage_cpu_seconds.items()},
                     **measure(info["truth"], gt_d, template=ict, subject=ict, n_points=args.points)})
    for r in rows:
        r.pop("frame_drift_mm", None)
    return {"dataset": args.dataset, "preset": args.preset, "frames": args.frames, "stride": args.stride,
            "cameras": names, "rows": rows}


def markdown(result: dict) -> str:
    head = "| GT | " + " | ".join(KEYS) + " |"
    lines = [head, "|" + "---|" * (len(KEYS) + 1)]
    for r in result["rows"]:
        vals = [r.get(k) for k in KEYS]
        cells = " | ".join("-" if v is None else f"{v:.3g}" for v in vals)
        lines.append(f"| {r['method']} | {cells} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("multiface", "ava256"), default="multiface")
    ap.add_argument("--work", required=True, help="capture, truth and GT folders (the capture is reused)")
    ap.add_argument("--preset", default="small", help="synth preset (small: 16 cameras, 256x374)")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--cameras", type=int, default=4, help="cameras prepared (the first N names)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--config", default=None, help="YAML overriding pipelines/registered.yaml")
    ap.add_argument("--compare-depth", action="store_true", help="also prepare nersemble on the same render")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=1))
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
