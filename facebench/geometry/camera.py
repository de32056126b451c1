"""Pinhole cameras in the OpenCV convention (SPEC section 1).

Camera space: x right, y down, z forward, metres.  Pixels: (x, y) = (column, row),
the centre of the top-left pixel is (0, 0), and ``K`` maps camera points to them.
Extrinsics are ``T_cam_from_world`` (NeRSemble's ``world_2_cam``).  No lens
distortion: NeRSemble images are undistorted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera: intrinsics ``K`` (3,3), extrinsics ``T_cam_from_world`` (4,4), image size.

    ``T_cam_from_world`` is expected to be rigid (rotation + translation), which is
    what makes :meth:`pixel_rays` parameters equal z-depth.
    """

    K: np.ndarray
    T_cam_from_world: np.ndarray
    width: int
    height: int

    def __post_init__(self):
        K = np.array(self.K, dtype=np.float64)
        T = np.array(self.T_cam_from_world, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"K must be (3, 3), got {K.shape}")
        if T.shape == (3, 4):
            T = np.vstack([T, [0.0, 0.0, 0.0, 1.0]])
        if T.shape != (4, 4):
            raise ValueError(f"T_cam_from_world must be (4, 4), got {T.shape}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        K.setflags(write=False)
        T.setflags(write=False)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "T_cam_from_world", T)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    # -- frames -----------------------------------------------------------------------------------

    @cached_property
    def T_world_from_cam(self) -> np.ndarray:
        """Inverse extrinsics (4,4)."""
        return np.linalg.inv(self.T_cam_from_world)

    @cached_property
    def K_inv(self) -> np.ndarray:
        return np.linalg.inv(self.K)

    @property
    def center_world(self) -> np.ndarray:
        """Camera centre in world coordinates (3,)."""
        return self.T_world_from_cam[:3, 3].copy()

    def world_to_cam(self, xyz_world) -> np.ndarray:
        """World points (...,3) -> camera points (...,3)."""
        xyz_world = np.asarray(xyz_world, dtype=np.float64)
        T = self.T_cam_from_world
        return xyz_world @ T[:3, :3].T + T[:3, 3]

    def cam_to_world(self, xyz_cam) -> np.ndarray:
        """Camera points (...,3) -> world points (...,3)."""
        xyz_cam = np.asarray(xyz_cam, dtype=np.float64)
        T = self.T_world_from_cam
        return xyz_cam @ T[:3, :3].T + T[:3, 3]

    # -- pixels -----------------------------------------------------------------------------------

    def project(self, xyz_cam) -> np.ndarray:
        """Camera points (...,3) -> pixels uv (...,2).

        Points with z <= 0 are behind the camera: their uv is meaningless (inf or
        mirrored); check z (see :meth:`project_world`).
        """
        xyz_cam = np.asarray(xyz_cam, dtype=np.float64)
        h = xyz_cam @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            return h[..., :2] / h[..., 2:3]

    def project_world(self, xyz_world) -> tuple[np.ndarray, np.ndarray]:
        """World points (...,3) -> (uv (...,2) pixels, z (...) depth in metres)."""
        xyz_cam = self.world_to_cam(xyz_world)
        return self.project(xyz_cam), xyz_cam[..., 2]

    def unproject(self, uv, z) -> np.ndarray:
        """Pixels uv (...,2) at z-depth z (...) -> camera points (...,3)."""
        uv = np.asarray(uv, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64)
        h = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)
        return (h @ self.K_inv.T) * z[..., None]

    def pixel_uv(self) -> np.ndarray:
        """Pixel centres uv (H,W,2): uv[y, x] == (x, y)."""
        u, v = np.meshgrid(np.arange(self.width, dtype=np.float64), np.arange(self.height, dtype=np.float64))
        return np.stack([u, v], axis=-1)

    def unproject_depth(self, depth) -> np.ndarray:
        """Depth map (H,W) of z-depths in metres -> camera points (H,W,3); NaN where depth is NaN."""
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != (self.height, self.width):
            raise ValueError(f"depth map is {depth.shape}, camera is (H, W) = ({self.height}, {self.width})")
        return self.unproject(self.pixel_uv(), depth)

    def pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Rays through every pixel centre: (origin_world (3,), dirs_world (H,W,3)).

        Directions are not unit length: they have z == 1 in camera space, so the
        point ``origin + t * dir`` lies at z-depth ``t``.
        """
        dirs_cam = self.unproject(self.pixel_uv(), np.ones((self.height, self.width)))
        dirs_world = dirs_cam @ self.T_world_from_cam[:3, :3].T
        return self.center_world, dirs_world

    # -- new cameras ------------------------------------------------------------------------------

    def rescaled(self, width: int, height: int) -> Camera:
        """The same camera for an image resized to ``width`` x ``height``.

        Pixel centres map as u' = (u + 0.5) * sx - 0.5 (sx = width / self.width), so
        the principal point moves with the half-pixel offset as well as the scale.
        """
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, :3] *= sx
        K[1, :3] *= sy
        K[0, 2] += 0.5 * sx - 0.5
        K[1, 2] += 0.5 * sy - 0.5
        return Camera(K, self.T_cam_from_world, width, height)

    def cropped(self, x0: int, y0: int, width: int, height: int) -> Camera:
        """The camera of the crop whose top-left pixel is (x0, y0) in this image."""
        K = self.K.copy()
        K[0, 2] -= x0
        K[1, 2] -= y0
        return Camera(K, self.T_cam_from_world, width, height)

    def __repr__(self) -> str:
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        c = self.center_world
        return (
            f"Camera({self.width}x{self.height}, fx={fx:.1f}, fy={fy:.1f}, cx={cx:.1f}, cy={cy:.1f}, "
            f"center_world=({c[0]:.3f}, {c[1]:.3f}, {c[2]:.3f}))"
        )


def is_resize(native, size, rel_tol: float = 0.01) -> bool:
    """Whether an image of ``size`` (W, H) can be an image of ``native`` (W, H) resized.

    True when one scale factor gives both sides within rounding: within 1 pixel, or
    ``rel_tol`` of the side where that is more (video encoders round sides to multiples of
    16).  A crop or a rotated image has another aspect ratio and is refused.
    """
    (W, H), (w, h) = (float(native[0]), float(native[1])), (float(size[0]), float(size[1]))
    tw, th = max(1.0, rel_tol * w), max(1.0, rel_tol * h)
    return max((w - tw) / W, (h - th) / H) <= min((w + tw) / W, (h + th) / H)


def check_intrinsics(K, where=None, what: str = "intrinsics") -> np.ndarray:
    """``K`` (3,3) as float64, or an ``InputError``: a pinhole ``K`` is upper triangular with last
    row ``[0, 0, 1]`` and positive focal lengths (a transposed ``K`` has ``cx, cy`` in its last row)."""
    from facebench.errors import InputError

    K = np.asarray(K, np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise InputError(f"{what} must be a finite 3x3 matrix", where)
    if not np.allclose(K[2], [0.0, 0.0, 1.0], atol=1e-6) or abs(K[1, 0]) > 1e-6:
        hint = " (transposed?)" if np.allclose(K[:, 2], [0.0, 0.0, 1.0], atol=1e-6) else ""
        raise InputError(f"{what}: last row is {np.round(K[2], 4).tolist()}, expected [0, 0, 1]{hint}", where)
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(f"{what}: focal lengths must be positive, got fx={K[0, 0]:g}, fy={K[1, 1]:g}", where)
    return K


def check_resize(native_size, image_size, where=None, hint: str = "--native-size WxH") -> None:
    """``InputError`` naming both sizes unless ``image_size`` (W, H) is ``native_size`` resized
    (:func:`is_resize`); ``where``: the file it concerns, ``hint``: how to state another size."""
    from facebench.errors import InputError

    (W, H), (w, h) = (int(native_size[0]), int(native_size[1])), (int(image_size[0]), int(image_size[1]))
    if (w, h) != (W, H) and not is_resize((W, H), (w, h)):
        raise InputError(f"the image is {w}x{h} but the intrinsics are for {W}x{H} images, another aspect "
                         f"ratio (cropped or rotated?); if the calibration refers to another image size, "
                         f"state it with {hint}", where)


def camera_for_image(K, T_cam_from_world, native_size, image_size, where=None,
                     hint: str = "--native-size WxH") -> Camera:
    """The camera of an image of ``image_size`` (W, H) from intrinsics ``K`` for ``native_size``.

    ``K`` is rescaled with the pixel-centre rule (:meth:`Camera.rescaled`); an image of
    another aspect ratio is an ``InputError`` (:func:`check_resize`).
    """
    K = check_intrinsics(K, where)
    check_resize(native_size, image_size, where, hint)
    (W, H), (w, h) = (int(native_size[0]), int(native_size[1])), (int(image_size[0]), int(image_size[1]))
    camera = Camera(K, T_cam_from_world, W, H)
    return camera if (w, h) == (W, H) else camera.rescaled(w, h)
