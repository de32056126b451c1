"""Exact truth of a synthetic capture: parameters, vertices and rig; GT shards (SPEC §4).

Truth folder (next to the capture, never inside it; ``prepare`` never reads it)::

    {truth}/synth.json                       generator settings (preset, seed, layout, template)
    {truth}/{pid}/rig.json                   serials, full-sensor K, world_2_cam, image size
    {truth}/{pid}/identity.json              shape coefficients and appearance
    {truth}/{pid}/{seq}/truth.npz            frame_ids (T,), vertices (T,V,3) float32 world,
                                             expression, rotation, translation, neck, jaw, eyes
                                             (XYZ Euler radians), rotation_matrices (T,3,3),
                                             scale (), and the deform() inputs in axis-angle:
                                             {rotation,neck,jaw,eyes}_axis_angle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facebench.synth.scene import HAIR, TEMPLATE, TORSO


def write_participant_truth(truth_dir: Path, pid: str, rig, identity, width: int, height: int) -> None:
    d = Path(truth_dir) / pid
    d.mkdir(parents=True, exist_ok=True)
    (d / "rig.json").write_text(json.dumps({**rig.to_json(), "image_size": [width, height]}, indent=1))
    (d / "identity.json").write_text(json.dumps({
        "participant": pid, "shape": identity.shape.tolist(), "skin_rgb": identity.skin_rgb.tolist(),
        "hair_rgb": identity.hair_rgb.tolist(), "shirt_rgb": identity.shirt_rgb.tolist(),
        "hair_thickness_m": identity.hair_thickness, "head_offset": identity.head_offset.tolist()}, indent=1))


def write_sequence_truth(truth_dir: Path, pid: str, perf, vertices: np.ndarray, translation: np.ndarray,
                         rotation_matrices: np.ndarray, identity_shape: np.ndarray) -> Path:
    from facebench.synth.motion import euler_to_axis_angle

    path = Path(truth_dir) / pid / perf.sequence / "truth.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, frame_ids=perf.frame_ids, vertices=vertices.astype(np.float32), shape=identity_shape,
        expression=perf.expression, rotation=perf.rotation, rotation_matrices=rotation_matrices,
        translation=translation, neck=perf.neck, jaw=perf.jaw, eyes=perf.eyes, scale=np.float64(1.0),
        rotation_axis_angle=euler_to_axis_angle(perf.rotation),
        neck_axis_angle=euler_to_axis_angle(perf.neck),
        jaw_axis_angle=euler_to_axis_angle(perf.jaw),
        eyes_axis_angle=np.concatenate([euler_to_axis_angle(perf.eyes[:, :3]),
                                        euler_to_axis_angle(perf.eyes[:, 3:])], axis=1))
    return path


def pixel_labels(template, render) -> np.ndarray:
    """Exact mask labels of a scene render: 1 face, 2 other template region, 3 hair/torso, 0 background."""
    labels = np.zeros(render.kind.shape, np.uint8)
    on_t = render.kind == TEMPLATE
    face_regions = np.asarray(template.face_regions)
    labels[on_t] = np.where(face_regions[render.face_id[on_t]] == 1, 1, 2)
    labels[(render.kind == HAIR) | (render.kind == TORSO)] = 3
    return labels


class GTCollector:
    """Accumulates exact views of one sequence and turns them into a ``facebench.io.shards.Sequence``."""

    def __init__(self, template, pid: str, perf, vertices: np.ndarray, cameras: dict,
                 n_tracks: int = 256, max_offset: float = 0.05, seed: int = 0):
        self.template, self.pid, self.perf = template, pid, perf
        self.vertices = vertices
        self.cameras = cameras
        self.n_tracks, self.max_offset, self.seed = n_tracks, max_offset, seed
        T = len(perf.frame_ids)
        self._views = {s: {"image": [None] * T, "depth": [None] * T, "labels": [None] * T}
                       for s in cameras}

    def add(self, t: int, serial: str, render) -> None:
        v = self._views[serial]
        v["image"][t] = render.rgb
        v["depth"][t] = render.depth
        v["labels"][t] = pixel_labels(self.template, render)

    def sequence(self):
        from facebench import gtmaps
        from facebench.io.shards import Clip, Sequence

        clips = []
        T = len(self.vertices)
        maps = {serial: [None] * T for serial in self.cameras}
        for t in range(T):  # frame-major: one frame's mesh structures serve every camera
            for serial, camera in self.cameras.items():
                v = self._views[serial]
                maps[serial][t] = gtmaps.view_maps(self.template, self.vertices[t], camera, v["depth"][t],
                                                   v["labels"][t] > 0, max_offset=self.max_offset,
                                                   labels=v["labels"][t])
        for i, (serial, camera) in enumerate(self.cameras.items()):
            v = self._views[serial]
            depth, canonical, mask = (np.stack(m) for m in zip(*maps[serial]))
            tracks = gtmaps.tracks(self.template, self.vertices, camera, depth, mask > 0,
                                   n_tracks=self.n_tracks, seed=self.seed + i)
            clips.append(Clip(serial=serial, image=np.stack(v["image"]), mask=mask, depth=depth,
                              canonical=canonical, K=camera.K, T_cam_from_world=camera.T_cam_from_world,
                              tracks=tracks))
        return Sequence(participant=self.pid, sequence=self.perf.sequence,
                        frame_ids=self.perf.frame_ids.astype(np.int32),
                        vertices=self.vertices.astype(np.float32), clips=clips,
                        attrs={"template": self.template.name, "source": "synth (exact)",
                               "fit_residual_mm": 0.0})
