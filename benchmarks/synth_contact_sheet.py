"""Contact sheet of one frame from every camera of a synthetic capture (docs/contact_sheet.png).

    .venv/bin/python benchmarks/synth_contact_sheet.py [--preset small] [--out docs/contact_sheet.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def contact_sheet(capture: Path, pid: str, seq: str, frame: int, cols: int = 8) -> Image.Image:
    params = __import__("json").loads((capture / pid / "camera_params.json").read_text())
    serials = list(params["world_2_cam"])
    folder = capture / pid / "sequences" / seq / f"frame_{frame:05d}" / "images-2x-73fps"
    tiles = [Image.open(folder / f"cam_{s}.png").convert("RGB") for s in serials]
    w, h = tiles[0].size
    rows = int(np.ceil(len(tiles) / cols))
    sheet = Image.new("RGB", (cols * w, rows * h), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    for i, (s, tile) in enumerate(zip(serials, tiles)):
        x, y = (i % cols) * w, (i // cols) * h
        sheet.paste(tile, (x, y))
        draw.text((x + 4, y + 4), f"{i}: {s}", fill=(255, 255, 0))
    return sheet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequence", default="EXP-1-head")
    ap.add_argument("--out", default="docs/contact_sheet.png")
    args = ap.parse_args()
    from facebench.synth import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        r = synthesize(Path(tmp) / "cap", preset=args.preset, seed=args.seed, sequences=[args.sequence],
                       frames=1, progress=False, template=_template())
        sheet = contact_sheet(r.out, r.participants[0], args.sequence, r.frame_ids[0])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out} ({sheet.size[0]}x{sheet.size[1]})")


def _template():
    try:
        from facebench.templates import load

        return load("facebench-head")
    except (ImportError, AttributeError):  # templates not built yet: the test stand-in
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from synth_standin import standin_template

        return standin_template()


if __name__ == "__main__":
    main()
