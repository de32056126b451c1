"""The synthetic camera rig: NeRSemble's 16 serials on an arc about 1 m from the head.

World frame of the synthetic captures: metres, y up, +z pointing out of the face
(the template's canonical frame), the head near the origin.  Cameras follow the
OpenCV convention (SPEC §1); ``T_cam_from_world`` is NeRSemble's ``world_2_cam``.
All cameras share one intrinsics matrix written for the full 2200 x 3208
(W x H) portrait sensor; images are rendered at a preset resolution and ``K`` is
rescaled with the pixel-centre-correct rule (``Camera.rescaled``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# NeRSemble camera serials in index order (SPEC §3); index 8 is the frontal camera.
SERIALS: tuple[str, ...] = (
    "222200042", "222200044", "222200046", "222200040", "222200036", "222200048",
    "220700191", "222200041", "222200037", "222200038", "222200047", "222200043",
    "222200049", "222200039", "222200045", "221501007",
)
FRONTAL_SERIAL = "222200037"
SENSOR_WIDTH, SENSOR_HEIGHT = 2200, 3208
FPS = 73

# (azimuth, elevation) in degrees per camera index; azimuth + turns towards the
# subject's left (+x), elevation + looks down from above.  Two interleaved rows
# spanning the frontal hemisphere, frontal camera (index 8) straight ahead.
_ARC_DEG = (
    (-78, 14), (-66, -10), (-54, 18), (-42, -6), (-30, 20), (-20, -12), (-10, 16), (-6, -16),
    (0, 0), (10, 16), (6, -16), (20, -12), (30, 20), (42, -6), (54, 18), (72, 2),
)
_FOCAL_FULL = 7000.0  # pixels on the full sensor: ~0.31 m x 0.46 m field at 1 m


@dataclass(frozen=True)
class Rig:
    """Cameras of one capture: full-sensor intrinsics plus one extrinsic per serial."""

    serials: tuple[str, ...]
    K_full: np.ndarray                       # (3,3) for the full 2200 x 3208 sensor
    T_cam_from_world: dict[str, np.ndarray]  # serial -> (4,4)

    def camera(self, serial: str, width: int, height: int):
        """``facebench.geometry.Camera`` of ``serial`` for images of ``width`` x ``height``."""
        from facebench.geometry import Camera

        full = Camera(self.K_full, self.T_cam_from_world[serial], SENSOR_WIDTH, SENSOR_HEIGHT)
        if (width, height) == (SENSOR_WIDTH, SENSOR_HEIGHT):
            return full
        return full.rescaled(width, height)

    def cameras(self, width: int, height: int) -> dict:
        return {s: self.camera(s, width, height) for s in self.serials}

    def camera_params(self, width: int | None = None, height: int | None = None) -> dict:
        """The ``camera_params.json`` content (SPEC §3): one shared full-sensor intrinsics.

        For images of ``width`` x ``height`` that are not the sensor resized (another aspect
        ratio, as the ``tiny`` preset's 64 x 96), the intrinsics are written for that size,
        which ``"width"``/``"height"`` state: readers refuse to rescale across aspect ratios.
        """
        from facebench.geometry.camera import is_resize

        params = {"world_2_cam": {s: self.T_cam_from_world[s].tolist() for s in self.serials},
                  "intrinsics": self.K_full.tolist()}
        if width is not None and height is not None and not is_resize((SENSOR_WIDTH, SENSOR_HEIGHT),
                                                                      (width, height)):
            full = self.camera(self.serials[0], width, height)
            params.update(intrinsics=full.K.tolist(), width=int(width), height=int(height))
        return params

    def to_json(self) -> dict:
        return {"serials": list(self.serials), "sensor": [SENSOR_WIDTH, SENSOR_HEIGHT],
                **self.camera_params()}


def look_at(center_world: np.ndarray, target_world: np.ndarray,
            up_world=(0.0, 1.0, 0.0)) -> np.ndarray:
    """``T_cam_from_world`` of an OpenCV camera at ``center_world`` looking at ``target_world``."""
    z = np.asarray(target_world, float) - np.asarray(center_world, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up_world, float))  # image x to the right, image y down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ np.asarray(center_world, float)
    return T


def make_rig(n_cameras: int = 16, distance: float = 1.0, target_world=(0.0, 0.0, 0.0),
             seed: int = 0) -> Rig:
    """The rig with ``n_cameras`` of the 16 (always including the frontal camera).

    Cameras sit ``distance`` metres from ``target_world`` at the fixed arc
    positions above, with a few millimetres of seeded placement jitter and a
    slightly off-centre principal point, like a real calibration.
    """
    if not 1 <= n_cameras <= len(SERIALS):
        raise ValueError(f"n_cameras must be in 1..{len(SERIALS)}, got {n_cameras}")
    indices = camera_subset(n_cameras)
    rng = np.random.default_rng([seed, 7919])
    target = np.asarray(target_world, float)
    T = {}
    for i in range(len(SERIALS)):  # draw jitter for all 16 so subsets agree with the full rig
        az, el = np.deg2rad(_ARC_DEG[i])
        jitter = rng.normal(0.0, 0.004, 3)
        direction = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
        center = target + distance * direction + jitter
        if i in indices:
            T[SERIALS[i]] = look_at(center, target + rng.normal(0.0, 0.003, 3) * (i != 8))
    cx = (SENSOR_WIDTH - 1) / 2 + 6.0
    cy = (SENSOR_HEIGHT - 1) / 2 - 9.0
    K = np.array([[_FOCAL_FULL, 0.0, cx], [0.0, _FOCAL_FULL, cy], [0.0, 0.0, 1.0]])
    return Rig(serials=tuple(SERIALS[i] for i in indices), K_full=K, T_cam_from_world=T)


def camera_subset(n: int) -> list[int]:
    """``n`` camera indices spread over the arc, always including the frontal index 8."""
    if n == len(SERIALS):
        return list(range(n))
    picks = {8}
    for i in np.linspace(2, len(SERIALS) - 3, n + 1).round().astype(int):
        if len(picks) == n:
            break
        picks.add(int(i))
    return sorted(picks)
