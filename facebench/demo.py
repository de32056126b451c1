"""The end-to-end demo: every part of facebench once, on built-in synthetic data.

synthesize a capture (+ exact truth) -> prepare GT with the real pipeline -> measure
the prepared GT against the truth -> predict (transformer + trivial rows) -> evaluate
against the exact truth -> publish a leaderboard -> write the comparison report of the
methods it ran and a static leaderboard site linking to it.

The demo subject is a scanned-face head (an ict-light identity with fine relief no
template spans) and GT is prepared with the default ict-light template.  The demo
data is scored with the ``synth-v2`` protocol, but it is not the ``synth-v2`` test set
(other participant, fewer sequences): its leaderboard lives in the demo folder and
cannot be merged with the official one (different GT manifest).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

METHODS = ("transformer", "template-frontal", "mean-depth-plane")
BENCHMARK = "synth-v2"


def run_demo(out, preset: str = "small", participant: str = "950", sequences: int = 1,
             frames: int | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Run the demo into ``out``; returns a summary dict (also written as summary.json)."""
    from facebench.evaluate import evaluate
    from facebench.leaderboard import publish
    from facebench.leaderboard.site import build_site
    from facebench.prepare import prepare_nersemble
    from facebench.prepare.fidelity import compare
    from facebench.report import write_comparison
    from facebench.synth import synthesize
    from facebench.templates import DEFAULT_TEMPLATE, load

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    capture, truth_gt, gt = out / "capture", out / "truth-gt", out / "gt"
    times: dict[str, float] = {}

    def step(name: str, text: str):
        click.secho(f"\n== {text}", bold=True)
        times[name] = time.perf_counter()

    step("synth", f"1/6 synthesize a {preset} capture (participant {participant}) with exact truth")
    if not (truth_gt / "manifest.json").exists():
        synthesize(capture, preset=preset, layout="v1", seed=seed, participants=[participant],
                   sequences=sequences, frames=frames, truth_gt=truth_gt, progress=progress)
    else:
        click.echo(f"reusing {capture}")

    step("prepare", "2/6 prepare ground truth from the capture (fusion, fitting, GT maps, tracks)")
    summary = prepare_nersemble(capture, gt, progress=progress)
    click.echo(str(summary))

    step("fidelity", "3/6 prepared GT vs exact truth")
    fidelity = compare(truth_gt, gt, load(DEFAULT_TEMPLATE))
    (out / "fidelity.json").write_text(json.dumps(fidelity, indent=1))
    click.echo(_format_fidelity(fidelity))

    step("predict", "4/6 predict: shipped transformer and trivial reference rows")
    from facebench.baseline.predict import predict

    results = []
    for method in METHODS:
        preds = out / "preds" / method
        meta = predict(truth_gt, preds, method=method, benchmark=BENCHMARK, progress=progress)
        click.echo(f"{method}: {meta['clips']} clips, {meta['frames']} frames -> {preds}")

    step("evaluate", "5/6 evaluate against the exact truth and publish a leaderboard")
    for method in METHODS:
        path = out / "results" / f"{method}.json"
        path.parent.mkdir(exist_ok=True)
        evaluate(out / "preds" / method, gt=truth_gt, benchmark=BENCHMARK, out=path, progress=False)
        results.append(path)
    boards = out / "leaderboards"
    for stale in boards.glob(f"{BENCHMARK}-v*"):
        stale.unlink()  # a rerun replaces the demo board rather than merging into it
    written = publish(results, out=boards)
    csv = next(p for p in written if p.suffix == ".csv")
    from facebench.leaderboard import show

    show(BENCHMARK, directory=boards)

    step("report", "6/6 comparison report of every method, and a static leaderboard site")
    index = write_comparison(truth_gt, results, out_dir=out / "report", fidelity=out / "fidelity.json",
                             progress=progress)
    stem = csv.stem
    site = build_site(boards, out / "site", results=results, reports={stem: out / "report"})
    times["end"] = time.perf_counter()

    names = list(times)
    stage_s = {n: round(times[names[i + 1]] - times[n], 1) for i, n in enumerate(names[:-1])}
    result = {"out": str(out), "capture": str(capture), "truth_gt": str(truth_gt), "gt": str(gt),
              "fidelity": fidelity, "leaderboard": str(csv), "report": str(index),
              "site": str(site), "stage_s": stage_s}
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    _print_where(result)
    return result


def _format_fidelity(f: dict) -> str:
    return (f"canonical error of the prepared GT vs truth: face median {f['face_median_mm']:.2f} mm, "
            f"face mean {f['face_mean_mm']:.2f} mm, all template regions mean {f['regions_mean_mm']:.2f} mm;"
            f"\ntrack error median {f['track_median_px']:.2f} px ({f['clips']} clips)")


def _print_where(r: dict) -> None:
    click.secho("\n== done", bold=True)
    rows = [("capture (NeRSemble v1 layout)", r["capture"]), ("exact truth GT", r["truth_gt"]),
            ("prepared GT", r["gt"]), ("leaderboard", r["leaderboard"]), ("report", r["report"]),
            ("leaderboard site", r["site"])]
    for name, path in rows:
        click.echo(f"  {name:<30} {path}")
    click.echo("  time per stage (s): " + ", ".join(f"{k} {v}" for k, v in r["stage_s"].items()))
