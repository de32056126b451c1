"""Geometry core: pinhole cameras, mesh ray casting, exact closest points, triangle frames.

All arrays are numpy float64 unless stated; conventions follow SPEC section 1
(OpenCV cameras, ``T_cam_from_world``, pixel centres at integer coordinates).
"""

from facebench.geometry.camera import Camera
from facebench.geometry.closest import Closest, MeshProximity, closest_points
from facebench.geometry.frames import face_normals, pseudo_normals, triangle_frames, vertex_normals
from facebench.geometry.raycast import Raycaster, Render, render_mesh

__all__ = [
    "Camera",
    "Closest",
    "MeshProximity",
    "Raycaster",
    "Render",
    "closest_points",
    "face_normals",
    "pseudo_normals",
    "render_mesh",
    "triangle_frames",
    "vertex_normals",
]
