"""Rebuild the shipped ``tiny-head`` checkpoint (procedural facebench-head subjects) from nothing:
training data, three training stages, checkpoint choice on validation participants, and (with
--install) the copy into the package.

Every participant id used here is disjoint from the synth-v1 test participants (901-999):
training 101-259, validation 801-812.  CPU only; on an idle 2-core machine the data takes
about 40 min to render, the stages about 6, 20 and 20 min, and the validation of five
checkpoints about 20 min.

    python benchmarks/train_tiny_head.py --out build/train-tiny            # everything, resumable
    python benchmarks/train_tiny_head.py --out build/train-tiny --install  # ...and ship it as tiny-head

(``tiny-head`` was shipped as ``tiny`` until the default checkpoint was retrained on ICT subjects
by ``benchmarks/train_tiny_ict.py``, which starts from it.)

Each step is skipped when its output exists, so an interrupted run continues where it stopped
(training resumes from its last checkpoint).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

# (name, preset, first participant, last participant + 1, sequences, stride, seed)
TRAIN_DATA = [
    ("a", "small", 101, 105, 3, 3, 1),  # the original render stopped early: 104 has one sequence
    ("b", "tiny", 105, 125, 2, 6, 1),
    ("c", "small", 125, 141, 2, 6, 1),
    ("d", "tiny", 141, 171, 2, 8, 8),
    ("e", "tiny", 171, 200, 2, 4, 4),
    ("f", "small", 200, 230, ["EXP-1-head", "EXP-5-mouth"], 8, 200),
    ("g", "small", 230, 260, ["FREE", "EMO-1-shout+laugh"], 8, 230),
]
# validation: synth-v1's resolution, frames and stride; (name, first, last + 1, sequences, seed)
VAL_DATA = [("val1", 801, 803, 2, 801), ("val2", 803, 807, 1, 803), ("val3", 807, 813, 1, 807)]
STAGES = {
    # stage 1: the template prior and dense corrections only (the checkpoint shipped first)
    "stage1": dict(steps=800, lr=5e-4, warmup=30, seed=0, data="cb",
                   model_overrides={"pose_head": False, "camera_frame": False}),
    # stage 2: from stage 1, with the pose head, corrections along the camera's axes and prior jitter
    "stage2": dict(steps=3000, lr=4e-4, warmup=30, seed=0, model_overrides={},
                   prior_jitter=(0.01, 4.0), data="cbaedfg", init="stage1"),
    # stage 3: stage 2 continued on other samples (seed 1) at half the learning rate
    "stage3": dict(steps=3000, lr=2e-4, warmup=30, seed=1, model_overrides={},
                   prior_jitter=(0.01, 4.0), data="cbaedfg", init="stage2"),
}
# the checkpoints scored on the validation sets (about 4 min each on 2 cores)
VALIDATE = {"stage2": (2000, 2500, 3000), "stage3": (2000, 3000)}


def render(out: Path) -> dict[str, Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_tiny_ict import render_set

    gts = {}
    for name, preset, lo, hi, seqs, stride, seed in TRAIN_DATA:
        gts[name] = render_set(out, name, range(lo, hi), preset=preset, sequences=seqs, frames=4,
                               stride=stride, seed=seed, gt_resolution=(88, 128), n_tracks=16,
                               template="facebench-head")
    for name, lo, hi, seqs, seed in VAL_DATA:
        gts[name] = render_set(out, name, range(lo, hi), preset="small", sequences=seqs, frames=8, stride=8,
                               seed=seed, gt_resolution=(176, 256), template="facebench-head")
    return gts


def train_stage(out: Path, name: str, gts: dict, threads: int) -> Path:

    cfg = dict(STAGES[name])
    run = out / name
    final = run / f"ck-{cfg['steps']:05d}.safetensors"
    if final.is_file():
        return run
    data = [gts[k] for k in cfg.pop("data")]
    init = cfg.pop("init", None)
    if init is not None:
        init = out / init / f"ck-{STAGES[init]['steps']:05d}.safetensors"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_tiny_ict import run_stage

    return run_stage(run, data, init, threads, cfg)


def validate(out: Path, vals: list[Path]) -> Path:
    """The checkpoints named in :data:`VALIDATE`, scored under synth-v1's protocol; the lowest
    canonical error (mean over the validation sets, weighted by clips) wins."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_tiny_ict import validate as score_checkpoints

    return score_checkpoints(out, vals, VALIDATE, benchmark="synth-v1")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/train-tiny", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--install", action="store_true", help="copy the chosen checkpoint into the package")
    args = ap.parse_args(argv)
    gts = render(args.out)
    for name in STAGES:
        train_stage(args.out, name, gts, args.threads)
    best = validate(args.out, [gts[name] for name, *_ in VAL_DATA])
    print(f"chosen on validation: {best}")
    if args.install:
        dest = Path(__file__).resolve().parents[1] / "facebench" / "baseline" / "checkpoints" / "tiny-head"
        shutil.copy(best, dest.with_suffix(".safetensors"))
        shutil.copy(best.with_suffix(".json"), dest.with_suffix(".json"))
        print(f"installed as {dest}.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
