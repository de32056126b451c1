"""Contact sheet of one frame from every camera of a synthetic capture (docs/contact_sheet.png).

    .venv/bin/python benchmarks/synth_contact_sheet.py [--preset small] [--template ict-light] \
        [--out docs/contact_sheet.png]

Top: the 16 cameras of one frame; bottom: the frontal camera on 8 subjects, 8 sequences.
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


def subjects_row(tmp: Path, preset: str, seed: int, template: str, n: int = 8) -> Image.Image:
    """The frontal camera's view of ``n`` subjects (participants 931..), each at a moment of a
    different expressive sequence, so the sheet shows identities and expressions too."""
    from facebench.synth import synthesize
    from facebench.synth.motion import SEQUENCES

    tiles = []
    for k in range(n):
        seq = SEQUENCES[k % len(SEQUENCES)]
        frame = 30 + 37 * k  # a different moment of each performance
        r = synthesize(tmp / f"t{k}", preset=preset, seed=seed, participants=[str(931 + k)], sequences=[seq],
                       frames=2, stride=frame, progress=False, template=template)
        frame_dir = r.out / r.participants[0] / "sequences" / seq / f"frame_{r.frame_ids[1]:05d}"
        folder = frame_dir / "images-2x-73fps"
        tile = Image.open(folder / "cam_222200037.png").convert("RGB")
        ImageDraw.Draw(tile).text((4, 4), f"{931 + k} {seq}", fill=(255, 255, 0))
        tiles.append(tile)
    w, h = tiles[0].size
    row = Image.new("RGB", (n * w, h))
    for i, tile in enumerate(tiles):
        row.paste(tile, (i * w, 0))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequence", default="EMO-1-shout+laugh")
    ap.add_argument("--template", default="ict-light")
    ap.add_argument("--out", default="docs/contact_sheet.png")
    args = ap.parse_args()
    from facebench.synth import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        r = synthesize(Path(tmp) / "cap", preset=args.preset, seed=args.seed, sequences=[args.sequence],
                       frames=1, progress=False, template=args.template)
        sheet = contact_sheet(r.out, r.participants[0], args.sequence, r.frame_ids[0])
        row = subjects_row(Path(tmp), args.preset, args.seed, args.template, n=min(8, sheet.size[0] // 200))
        both = Image.new("RGB", (sheet.size[0], sheet.size[1] + row.size[1] + 8), (0, 0, 0))
        both.paste(sheet, (0, 0))
        both.paste(row.resize((sheet.size[0], int(row.size[1] * sheet.size[0] / row.size[0]))),
                   (0, sheet.size[1] + 8))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    # docs-sized: 3/4 scale, 256 colours (the full sheet is 3 MB)
    both = both.resize((both.size[0] * 3 // 4, both.size[1] * 3 // 4), Image.LANCZOS)
    both.quantize(256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"wrote {args.out} ({both.size[0]}x{both.size[1]})")


if __name__ == "__main__":
    main()
