"""Landmark overlays for real-photo benchmarks: where each method's canonical map puts the
template's landmarks, drawn over the photo next to the human labels.

``facebench report --gt LANDMARK_GT --results A.json B.json --out DIR`` writes
``DIR/landmarks.png`` (rows: methods, columns: photos) and ``DIR/index.html`` (the table and
the figure).  Human labels are green dots, the method's landmarks red crosses joined to their
label by a line; a landmark the map does not contain is a hollow green circle.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np


def _located(record: dict, reader, cid: str, spec):
    """(T=1,L,2) pixels of the method's landmarks on photo ``cid`` (NaN where not found), or None
    when the predictions folder is gone."""
    from facebench.evaluate.landmarks import locate
    from facebench.io.predictions import ClipShape, load_prediction

    preds = record.get("predictions")
    if not preds or not Path(preds).exists():
        return None
    item = reader.item(cid)
    pred = load_prediction(preds, cid, ClipShape(1, item["height"], item["width"], 0))
    return locate(np.asarray(pred["canonical"], np.float32), reader.template_name, spec)


def landmark_figure(gt_dir, records: list[dict], out_png, crop_margin: float = 0.6):
    """Draw the overlay grid of ``records`` (results records of one landmark benchmark)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facebench.benchmarks import get_benchmark
    from facebench.evaluate.landmarks import scored_points
    from facebench.io.landmark_gt import LandmarkGT

    reader = LandmarkGT(gt_dir)
    spec = get_benchmark(reader.benchmark).task("landmarks")
    idx = scored_points(spec)
    cids = reader.clip_ids
    fig, axes = plt.subplots(len(records), len(cids), figsize=(2.6 * len(cids), 2.8 * len(records)),
                             squeeze=False)
    for r, rec in enumerate(records):
        for c, cid in enumerate(cids):
            ax = axes[r, c]
            image, gt = reader.image(cid), reader.landmarks(cid)[idx]
            lo, hi = gt.min(axis=0), gt.max(axis=0)
            pad = crop_margin * (hi - lo).max()
            x0, y0 = np.maximum(lo - pad, 0).astype(int)
            x1, y1 = np.minimum(hi + pad, [image.shape[1] - 1, image.shape[0] - 1]).astype(int)
            ax.imshow(image[y0:y1 + 1, x0:x1 + 1], extent=(x0 - 0.5, x1 + 0.5, y1 + 0.5, y0 - 0.5))
            uv = _located(rec, reader, cid, spec)
            found = np.zeros(len(idx), bool)
            if uv is not None:
                uv = uv[0]
                found = np.isfinite(uv).all(axis=1)
                for g, p in zip(gt[found], uv[found]):
                    ax.plot([g[0], p[0]], [g[1], p[1]], "-", color="yellow", lw=0.6)
                ax.plot(uv[found, 0], uv[found, 1], "x", color="red", ms=3, mew=0.8)
            ax.plot(gt[found, 0], gt[found, 1], ".", color="lime", ms=3)
            ax.plot(gt[~found, 0], gt[~found, 1], "o", mfc="none", mec="lime", ms=4, mew=0.8)
            nme = rec["per_clip"].get(cid, {}).get("landmarks", {}).get("nme")
            ax.set_title(f"{cid.split('/')[1]}: NME {nme:.3f}" if nme is not None else cid, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(rec["method"]["method"], fontsize=8)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def _cell(value) -> str:
    """A metric for the table: 4 decimals, or – where it is undefined (e.g. nme_found of a method
    that found no landmark)."""
    return "–" if value is None else f"{value:.4f}"


def write_landmark_report(gt_dir, result_paths, out_dir) -> Path:
    """index.html (table of the records' landmark metrics) + landmarks.png; returns index.html."""
    records = [json.loads(Path(p).read_text()) for p in result_paths]
    records.sort(key=lambda r: r["metrics"]["landmarks"]["nme"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    landmark_figure(gt_dir, records, out_dir / "landmarks.png")
    cols = ("nme", "found", "nme_found", "face_found")
    rows = "".join(
        "<tr><td>" + html.escape(r["method"]["method"]) + "</td>"
        + "".join(f"<td>{_cell(r['metrics']['landmarks'].get(k))}</td>" for k in cols) + "</tr>"
        for r in records)
    bench = html.escape(f"{records[0]['benchmark']['name']} v{records[0]['benchmark']['version']}")
    page = (f"<!doctype html><meta charset='utf-8'><title>{bench}</title><h1>{bench}</h1>"
            "<p>Green: human labels; red: where the method's canonical map holds the template's landmark; "
            "hollow green: not found.</p><table border=1 cellpadding=4><tr><th>method</th>"
            + "".join(f"<th>{c}</th>" for c in cols) + f"</tr>{rows}</table>"
            "<p><img src='landmarks.png' style='max-width:100%'></p>")
    (out_dir / "index.html").write_text(page)
    return out_dir / "index.html"
