"""``facebench inspect-cameras ROOT``: how a capture's cameras are read, and whether they fit it.

:func:`inspect_cameras` opens a capture (NeRSemble, Multiface or Ava-256, detected from disk
like ``prepare`` does), reads one frame of every camera of one sequence and prints, per camera,
the conventions understood (image size read against the size the intrinsics refer to, the
focal length and principal point used, where the camera is and how far in front of it the
subject is) with the camera check's figures (:mod:`facebench.prepare.camera_check`).  It writes
an overlay per view (the capture's own 3D evidence projected on the photo) and one contact
sheet, so that a misread convention shows in seconds.  It never raises on a failing camera:
it shows it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facebench.errors import InputError

DATASETS = ("nersemble", "multiface", "ava256")

CONVENTIONS = {
    "nersemble": ["extrinsics: camera_params.json world_2_cam = T_cam_from_world (OpenCV, world -> camera)",
                  "units: metres (depth maps 0..2 m, point clouds and tracking in metres)",
                  "intrinsics: for {native} images ({native_source}), rescaled to the images read "
                  "(pixel centres, SPEC section 1)"],
    "multiface": ["extrinsics: KRT [R | t] = T_cam_from_world (OpenCV, world -> camera), t in mm / 1000",
                  "units: millimetres in the files, metres once read (meshes too)",
                  "intrinsics: KRT K for {native} images ({native_source}), rescaled to the images read; "
                  "distortion ignored, as the official loader does",
                  "meshes: head frame (mm) -> world by each frame's _transform.txt head pose"],
    "ava256": ["extrinsics: calibration T stored transposed, T.T = T_cam_from_world (OpenCV), t in mm / 1000",
               "units: millimetres in the files, metres once read (meshes too)",
               "intrinsics: K stored transposed, for {native} images ({native_source}), rescaled to the "
               "images read; lens distortion removed from images and masks",
               "meshes: head frame (mm) -> world by each frame's head pose"],
}


@dataclass
class Inspection:
    """What :func:`inspect_cameras` found and wrote."""

    dataset: str
    root: Path
    participant: str
    sequence: str
    frame: int
    conventions: list
    rows: list  # per camera: dict of the printed values
    record: dict  # the camera check's QC record (flag, figures, reason)
    overlays: list = field(default_factory=list)
    sheet: Path | None = None

    def __str__(self) -> str:
        lines = [f"{self.dataset} capture {self.root}: participant {self.participant}, sequence "
                 f"{self.sequence}, frame {self.frame}"]
        lines += [f"  {c}" for c in self.conventions]
        lines.append(f"  check: {self.record.get('check')}")
        keys = ("name", "image", "native", "fx", "cx", "cy", "centre", "subject_z", "figures", "flag")
        header = ("camera", "image", "K for", "fx", "cx", "cy", "centre (m)", "subject z (m)", "figures",
                  "flag")
        table = [header] + [tuple(str(r[k]) for k in keys) for r in self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
        lines.append(f"camera check: {self.record.get('flag')}"
                     + (f": {self.record['reason']}" if self.record.get("reason") else ""))
        if self.sheet is not None:
            lines.append(f"overlays: {len(self.overlays)} views in {self.sheet.parent}; "
                         f"contact sheet {self.sheet}")
        return "\n".join(lines)


def detect_dataset(root) -> str:
    """"multiface" (a KRT file here or one level down), "ava256" (``*/decoder/camera_calibration.json``)
    or "nersemble" (participant folders, as :func:`facebench.nersemble.detect_layout` reads them)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder", root)
    if (root / "KRT").is_file() or any(root.glob("*/KRT")):
        return "multiface"
    calibration = "decoder/camera_calibration.json"
    if (root / calibration).is_file() or any(root.glob(f"*/{calibration}")):
        return "ava256"
    from facebench.nersemble import detect_layout

    detect_layout(root)  # a one-line error when this is no NeRSemble capture either
    return "nersemble"


def inspect_cameras(root, out=None, dataset: str | None = None, participant=None, sequence=None, frame=None,
                    native_size=None, layout=None, config=None) -> Inspection:
    """Inspect the cameras of ``root`` at one frame (default: the middle of the first sequence).

    ``out``: folder for ``{camera}.png`` overlays and ``contact_sheet.png`` (None: nothing written);
    ``dataset``: nersemble | multiface | ava256, detected when None; ``native_size`` (W, H) as for
    ``prepare``; ``config``: pipeline YAML overrides (its ``camera_check`` section is used).
    """
    from facebench.prepare.config import PipelineConfig, load_config

    dataset = dataset or detect_dataset(root)
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r} (one of {', '.join(DATASETS)})")
    pipeline = "nersemble.yaml" if dataset == "nersemble" else "registered.yaml"
    cfg = PipelineConfig.from_dict(load_config(config, pipeline=pipeline) if not isinstance(config, dict)
                                   else load_config(None, config, pipeline=pipeline))
    check_cfg = dataclasses.replace(cfg.camera_check, frames=1)
    reader = _nersemble if dataset == "nersemble" else _registered
    found = reader(root, dataset, participant, sequence, frame, native_size, layout, check_cfg, cfg)
    evidence, views, names, pid, seq, fid, conventions, masks = found
    from facebench.prepare.camera_check import native_fixes, run_check

    if isinstance(evidence, str):
        record, report = {"check": evidence, "flag": "not checked"}, None
    else:
        read = (views.cameras[0].width, views.cameras[0].height)  # views are read at the stored size
        report = run_check(evidence.check, views.cameras, names, evidence.words, evidence.figures, check_cfg,
                           [fid], native_fixes(conventions["native"], read))
        record = report.to_dict()
    rows = [_row(views.cameras[i], names[i], conventions["native"], evidence, report, i)
            for i in range(len(names))]
    result = Inspection(dataset, Path(root), pid, seq, fid, conventions["lines"], rows, record)
    if out is not None:
        _write(result, Path(out), views, names, evidence, masks)
    return result


def _nersemble(root, dataset, participant, sequence, frame, native_size, layout, check_cfg, cfg):
    from facebench.nersemble import open_capture
    from facebench.prepare.camera_evidence import nersemble_evidence
    from facebench.prepare.sequence import read_views

    with open_capture(root, layout, native_size=native_size) as cap:
        pid, seq, fid = _pick(cap, participant, sequence, frame)
        serials = cap.cameras(pid, seq)
        views = read_views(cap, pid, seq, serials, [fid], None, cfg.masks)
        evidence = nersemble_evidence(cap, pid, seq, [fid], views, check_cfg, cfg.fusion.alpha_threshold)
        params = cap.camera_params(pid)
        stated = native_size is not None or params.path.read_text().find('"width"') >= 0
        native = (params.width, params.height)
        source = "--native-size" if native_size is not None else \
            "camera_params.json width/height" if stated else "the NeRSemble sensor, by default"
        lines = [c.format(native=f"{native[0]}x{native[1]}", native_source=source)
                 for c in CONVENTIONS["nersemble"]] + [f"layout: {cap.layout}"]
    masks = None if views.silhouettes else [a[0] >= cfg.fusion.alpha_threshold for a in views.alphas]
    return evidence, views, list(serials), pid, seq, fid, {"native": native, "lines": lines}, masks


def _registered(root, dataset, participant, sequence, frame, native_size, layout, check_cfg, cfg):
    from facebench.prepare.camera_evidence import registered_evidence
    from facebench.prepare.registered import open_registered, read_registered_views

    with open_registered(dataset, root, native_size) as cap:
        pid, seq, fid = _pick(cap, participant, sequence, frame)
        names = [n for n in cap.cameras(pid, seq) if cap.has_view(pid, seq, fid, n)]
        if not names:
            raise InputError(f"{pid}/{seq}: no camera has an image at frame {fid}", root)
        views = read_registered_views(cap, pid, seq, names, [fid])
        vertices = cap.mesh_vertices(pid, seq, fid)[None]
        evidence = registered_evidence(cap, pid, seq, [fid], views, vertices, cap.mesh_faces(pid), check_cfg,
                                       cfg.fusion.alpha_threshold)
        native = cap.native_size
        has_masks = all(cap.has_masks(pid, seq, n) for n in names)
    source = "--native-size" if native_size is not None else \
        {"multiface": "Multiface's released images", "ava256": "the Ava-256 sensor"}[dataset]
    lines = [c.format(native=f"{native[0]}x{native[1]}", native_source=source) for c in CONVENTIONS[dataset]]
    masks = [a[0] >= cfg.fusion.alpha_threshold for a in views.alphas] if has_masks else None
    return evidence, views, names, pid, seq, fid, {"native": native, "lines": lines}, masks


def _pick(cap, participant, sequence, frame):
    """(participant, sequence, frame id) asked for, else the first participant's first sequence's
    middle frame; unknown names are one line with a did-you-mean hint."""
    from facebench.errors import did_you_mean

    participants = cap.participants()
    if not participants:
        raise InputError("no participants in this capture")
    pid = str(participant) if participant is not None else participants[0]
    if pid not in participants and pid.isdigit() and f"{int(pid):03d}" in participants:
        pid = f"{int(pid):03d}"
    if pid not in participants:
        raise InputError(f"no participant {pid!r}{did_you_mean(pid, participants)}")
    seqs = cap.sequences(pid)
    seq = sequence if sequence is not None else (seqs[0] if seqs else None)
    if seq not in seqs:
        raise InputError(f"no sequence {seq!r} for participant {pid}{did_you_mean(str(seq), seqs)}")
    ids = np.asarray(cap.frame_ids(pid, seq))
    if not len(ids):
        raise InputError(f"{pid}/{seq}: no frames")
    fid = int(ids[len(ids) // 2]) if frame is None else int(frame)
    if fid not in ids.tolist():
        raise InputError(f"{pid}/{seq}: no frame {fid} (frames {int(ids[0])}..{int(ids[-1])})")
    return pid, seq, fid


def _row(cam, name, native, evidence, report, i) -> dict:
    """The printed values of one camera."""
    c = cam.center_world
    subject = "-"
    if evidence is not None and not isinstance(evidence, str):
        centre = _evidence_centre(evidence)
        if centre is not None:
            z = cam.world_to_cam(centre)[2]
            subject = f"{z:.3f}" + ("" if z > 0 else " BEHIND")
    figures = "-"
    flag = "not checked"
    if report is not None:
        figures = ", ".join(f"{f.name} {f.describe(v)}" for f, v in zip(report.figures, report.values[:, i]))
        figures += f", extent {report.extent[i]:.0%}"
        flag = "pass" if report.ok[i] else "FAIL"
    return {"name": name, "image": f"{cam.width}x{cam.height}", "native": f"{native[0]}x{native[1]}",
            "fx": f"{cam.K[0, 0]:.1f}", "cx": f"{cam.K[0, 2]:.1f}", "cy": f"{cam.K[1, 2]:.1f}",
            "centre": f"({c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f})", "subject_z": subject, "figures": figures,
            "flag": flag}


def _evidence_centre(evidence):
    """Median of the evidence's world points (mesh, cloud; None for depth maps and landmarks)."""
    check = getattr(evidence.check, "first", evidence.check)
    points = getattr(check, "points", None)
    if points:
        return np.median(np.asarray(points[0]), axis=0)
    return None


def _write(result: Inspection, out: Path, views, names, evidence, masks) -> None:
    from PIL import Image

    from facebench.report.cameras import caption, contact_sheet, overlay

    out.mkdir(parents=True, exist_ok=True)
    tiles = []
    for i, name in enumerate(names):
        image = views.images[i][0]
        if isinstance(evidence, str):
            uv, good = np.zeros((0, 2)), np.zeros(0, bool)
        else:
            uv, good = evidence.check.overlay(views.cameras, i, 0)
        tile = overlay(image, uv, good, None if masks is None else masks[i])
        row = result.rows[i]
        tile = caption(tile, [f"{name}  {row['image']} (K for {row['native']})  {row['flag']}",
                              row["figures"]], "fail" if row["flag"] == "FAIL" else "pass")
        path = out / f"{_safe(name)}.png"
        Image.fromarray(tile).save(path)
        result.overlays.append(path)
        tiles.append(tile)
    title = (f"{result.dataset} {result.participant}/{result.sequence} frame {result.frame}: camera check "
             f"{result.record.get('flag')}\n{result.record.get('check')}")
    result.sheet = out / "contact_sheet.png"
    Image.fromarray(contact_sheet(tiles, title=title)).save(result.sheet)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name))
