"""Rebuild the shipped ``tiny-ict`` checkpoint: the reference transformer retrained on ICT subjects.

(``tiny-ict`` was shipped as ``tiny`` until the retraining for real footage, ``benchmarks/train_tiny.py``,
which starts from it; the file is unchanged, only renamed, so rows published with it stay
reproducible: ``facebench predict transformer-ict``.)

The ``tiny-ict`` model works in the ``ict-light`` canonical space (its template prior is
the neutral ICT head).  It starts from ``tiny-head`` (the checkpoint trained on procedural
facebench-head subjects by ``benchmarks/train_tiny_head.py``, shipped under its own name so
the synth-v1 leaderboard stays reproducible): every tensor is copied, and the prior (and so
the canonical space) changes to ict-light.  Then two stages train on ICT subjects.

Participant ids: training 100-179, validation 800-803; the synth-v2 test participants
(931, 932) and every id 900-999 are never used here.  Checkpoints are chosen on the
validation participants only (synth-v2 protocol: 16 cameras, 8 frames 8 timesteps apart).

    python benchmarks/train_tiny_ict.py --out build/train-tiny-ict            # everything, resumable
    python benchmarks/train_tiny_ict.py --out build/train-tiny-ict --install  # ...and ship it as tiny-ict

Each step is skipped when its output exists, so an interrupted run continues where it stopped
(training resumes from its last checkpoint).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "facebench" / "baseline" / "checkpoints"
# (name, first participant, last participant + 1, sequences, stride, seed): ICT subjects, small preset
# (16 cameras), 4 frames per clip, GT at 88x128 (the model's input size), 16 tracks per clip
TRAIN_DATA = [
    ("a", 100, 115, ["EXP-1-head", "EMO-1-shout+laugh"], 6, 100),
    ("b", 115, 130, ["SEN-01-cramp_small_danger", "FREE"], 8, 115),
    ("c", 130, 145, ["EMO-2-surprise+fear", "EXP-5-mouth"], 8, 130),
    ("d", 145, 160, ["EXP-4-lips", "EMO-4-disgust+happy"], 6, 145),
]
# validation: synth-v2's resolution, cameras, frames and stride; (name, first, last + 1, sequences, seed)
VAL_DATA = [("val", 800, 804, ["EXP-1-head", "EMO-1-shout+laugh"], 800)]
# two stages on the same data: "ict" from tiny-head (its prior, and so its canonical space, becomes
# ict-light), then "ict2" continues from ict's last step at a lower learning rate with other samples
STAGES = {
    "ict": dict(steps=2000, lr=3e-4, warmup=30, seed=2, prior_jitter=(0.01, 4.0),
                model_overrides={"template": "ict-light"}, init="tiny-head"),
    "ict2": dict(steps=2000, lr=2e-4, warmup=30, seed=3, prior_jitter=(0.01, 4.0),
                 model_overrides={"template": "ict-light"}, init="ict"),
}
INIT = STAGES["ict"]["init"]  # the shipped checkpoint the first stage starts from
# the checkpoints scored on the validation participants
VALIDATE = {"ict": (1000, 1500, 2000), "ict2": (1000, 1500, 2000)}


def render_set(out: Path, name: str, participants: range, *, preset: str, sequences, frames: int,
               stride: int, seed: int, gt_resolution: tuple[int, int], n_tracks: int = 256,
               template: str | None = None) -> Path:
    """Render one data set's exact truth GT into ``out/gt-{name}`` (skipped when it exists; the
    rendered capture itself is deleted: only the GT is used).  Also used by train_tiny_head.py."""
    from facebench.synth import synthesize

    gt = out / f"gt-{name}"
    if not (gt / "manifest.json").is_file():
        print(f"rendering set {name}: participants {participants.start}-{participants.stop - 1} ({preset}, "
              f"{template or 'default'} subjects)", flush=True)
        synthesize(out / f"capture-{name}", preset=preset, seed=seed,
                   participants=[str(p) for p in participants], sequences=sequences, frames=frames,
                   stride=stride, truth_gt=gt, gt_resolution=gt_resolution, n_tracks=n_tracks,
                   template=template, progress=False)
        shutil.rmtree(out / f"capture-{name}")
    return gt


def render(out: Path) -> dict[str, Path]:
    gts = {}
    for name, lo, hi, seqs, stride, seed in TRAIN_DATA:  # ICT subjects: synth's default
        gts[name] = render_set(out, name, range(lo, hi), preset="small", sequences=seqs, frames=4,
                               stride=stride, seed=seed, gt_resolution=(88, 128), n_tracks=16)
    for name, lo, hi, seqs, seed in VAL_DATA:
        gts[name] = render_set(out, name, range(lo, hi), preset="small", sequences=seqs, frames=8, stride=8,
                               seed=seed, gt_resolution=(176, 256))
    return gts


def train_stage(out: Path, name: str, gts: dict, threads: int) -> Path:
    cfg = dict(STAGES[name])
    run = out / name
    if (run / f"ck-{cfg['steps']:05d}.safetensors").is_file():
        return run
    init = cfg.pop("init")
    if init in STAGES:
        init = out / init / f"ck-{STAGES[init]['steps']:05d}.safetensors"
    return run_stage(run, [gts[n] for n, *_ in TRAIN_DATA], init, threads, cfg)


def run_stage(run: Path, data: list[Path], init, threads: int, cfg: dict) -> Path:
    """Train (or resume) one stage of ``tiny`` in ``run``: batch 1, windows of 4 frames, a
    checkpoint kept every 250 steps.  Also used by train_tiny_head.py."""
    from facebench.baseline.train import train

    print(f"training {run.name} on {len(data)} GT folders", flush=True)
    if (run / "checkpoint.safetensors").is_file():
        train(data, run, resume=True, threads=threads, keep_checkpoints=True)
    else:
        train(data, run, config="tiny", batch_size=1, window=4, checkpoint_every=250, threads=threads,
              init=init, keep_checkpoints=True, **cfg)
    return run


def validate(out: Path, vals: list[Path], checkpoints: dict | None = None,
             benchmark: str = "synth-v2") -> Path:
    """Predict + evaluate the validation GT under ``benchmark``'s protocol with each checkpoint of
    ``checkpoints`` ({stage: steps}, default :data:`VALIDATE`); the lowest canonical error (mean over
    clips of every validation set) wins.  Also used by ``train_tiny_head.py``."""
    scores = {}
    cli = [sys.executable, "-m", "facebench"]
    checkpoints = VALIDATE if checkpoints is None else checkpoints
    for stage, step in [(stage, step) for stage, steps in checkpoints.items() for step in steps]:
        run = out / stage
        ck = run / f"ck-{step:05d}.safetensors"
        total, aj, rmse, clips = 0.0, 0.0, 0.0, 0
        for val in vals:
            res = run / f"{val.name}-{step:05d}.json"
            if not res.is_file():
                preds = run / f"preds-{val.name}-{step:05d}"
                shutil.rmtree(preds, ignore_errors=True)
                subprocess.run(cli + ["baseline", "predict", "--gt", str(val), "--out", str(preds),
                                      "--checkpoint", str(ck), "--benchmark", benchmark], check=True)
                subprocess.run(cli + ["evaluate", "--preds", str(preds), "--gt", str(val), "--benchmark",
                                      benchmark, "--out", str(res)], check=True)
                shutil.rmtree(preds)
            m = json.loads(res.read_text())
            n = len(m["per_clip"])
            total += n * m["metrics"]["canonical"]["mean_mm"]
            aj += n * m["metrics"]["tracking_2d"]["average_jaccard"]
            rmse += n * m["metrics"]["depth"]["rmse_mm"]
            clips += n
        scores[ck] = total / clips
        print(f"{stage}/{ck.name}: validation canonical {scores[ck]:.2f} mm, "
              f"depth rmse {rmse / clips:.2f} mm, tracking_2d AJ {aj / clips:.3f}", flush=True)
    return min(scores, key=scores.get)


def install_checkpoint(best: Path, name: str) -> None:
    """Ship ``best`` (a training checkpoint and its JSON) in the package as checkpoint ``name``."""
    shutil.copy(best, CHECKPOINTS / f"{name}.safetensors")
    shutil.copy(best.with_suffix(".json"), CHECKPOINTS / f"{name}.json")
    print(f"installed as {CHECKPOINTS / name}.safetensors")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/train-tiny-ict", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--render-only", action="store_true", help="stop after rendering the data")
    ap.add_argument("--install", action="store_true", help="copy the chosen checkpoint into the package")
    args = ap.parse_args(argv)
    gts = render(args.out)
    if args.render_only:
        return 0
    for name in STAGES:
        train_stage(args.out, name, gts, args.threads)
    best = validate(args.out, [gts[name] for name, *_ in VAL_DATA])
    print(f"chosen on validation: {best}")
    if args.install:
        install_checkpoint(best, "tiny-ict")
    return 0


if __name__ == "__main__":
    sys.exit(main())
