"""The synthetic scene of one participant: template head, hair cap, torso, lights; rendered by ray casting.

Per frame the scene is one triangle mesh, in this order: the deformed template
(faces ``0 .. F_t-1``), a hair shell floating ``hair_thickness`` above the scalp
(it moves with the head but is not part of the template), and a static torso
below the neck.  The hair and the torso are the "off-template foreground" of the
ground truth (mask label 3).  Shading: per-vertex albedo times a procedural
texture evaluated at each hit's material coordinates (the canonical position for
the template, so the skin pattern moves with the face), Lambert lighting from
an ambient term plus one directional light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facebench.geometry.frames import vertex_normals
from facebench.geometry.raycast import Raycaster
from facebench.synth.motion import Identity, Performance, euler_to_axis_angle

# Geometry kinds per pixel (``SceneRender.kind``).
BACKGROUND, TEMPLATE, HAIR, TORSO = 0, 1, 2, 3
SCALP_REGION, FACE_REGION = 2, 1


@dataclass(frozen=True, eq=False)
class SceneRender:
    """One camera's view of one frame."""

    rgb: np.ndarray          # (H,W,3) uint8, true colours (no camera colour distortion)
    depth: np.ndarray        # (H,W) float32 z-depth metres, NaN on background (exact)
    kind: np.ndarray         # (H,W) uint8: 0 background, 1 template, 2 hair, 3 torso
    face_id: np.ndarray      # (H,W) int32 face of the combined mesh, -1 on background
    barycentric: np.ndarray  # (H,W,3) float32
    normal_world: np.ndarray  # (H,W,3) float32 unit shading normals (0 on background)

    @property
    def foreground(self) -> np.ndarray:
        return self.kind > 0


class HeadScene:
    """Geometry and appearance of one participant; :meth:`frame` gives a renderable frame."""

    def __init__(self, template, identity: Identity, seed: int = 0):
        self.template = template
        self.identity = identity
        faces = np.asarray(template.faces, dtype=np.int64)
        self.n_template_faces = len(faces)
        canonical = np.asarray(template.canonical_vertices, dtype=np.float64)
        rng = np.random.default_rng(identity.texture_seed)
        self.texture = ProceduralTexture(rng, scale=float(template.scale))

        # Hair: a shell over the scalp faces, thickness tapering to 0 at the scalp border.
        face_regions = np.asarray(template.face_regions)
        scalp_faces = faces[face_regions == SCALP_REGION]
        frac = np.zeros(len(canonical))
        count = np.zeros(len(canonical))
        np.add.at(frac, faces.ravel(), np.repeat(face_regions == SCALP_REGION, 3))
        np.add.at(count, faces.ravel(), 1.0)
        w = frac / np.maximum(count, 1)
        for _ in range(3):  # smooth over the mesh so the taper spans a few rings
            acc = np.zeros_like(w)
            np.add.at(acc, faces.ravel(), np.repeat(w[faces].mean(axis=1), 3))
            w = np.where(w > 0, acc / np.maximum(count, 1), 0.0)
        self.hair_vertex_ids = np.unique(scalp_faces)
        remap = np.full(len(canonical), -1, dtype=np.int64)
        remap[self.hair_vertex_ids] = np.arange(len(self.hair_vertex_ids))
        self.hair_faces = remap[scalp_faces]
        self.hair_offset = identity.hair_thickness * np.sqrt(np.clip(w[self.hair_vertex_ids], 0, 1))
        # a gentle low-frequency waviness (the texture's first octave at a quarter of its frequency)
        self.hair_offset *= 1.0 + 0.2 * self.texture.scalar(0.25 * canonical[self.hair_vertex_ids], octave=0)

        # Torso: a static squashed ellipsoid under the neck, in world coordinates.
        neutral = template.deform(identity=identity.shape, translation=self.base_translation)
        regions = np.asarray(template.regions)
        face = neutral[regions == FACE_REGION] if np.any(regions == FACE_REGION) else neutral
        neck = neutral[regions == 4] if np.any(regions == 4) else neutral
        top = face[:, 1].min() - 0.065  # shoulders start a few cm below the chin
        center = np.array([neck[:, 0].mean(), top - 0.11, neck[:, 2].mean() - 0.02])
        self.torso_vertices, self.torso_faces = _ellipsoid(center, (0.19, 0.12, 0.11), 24, 48)

        # Appearance: per-vertex albedo of every part.
        albedo = template.albedo if template.albedo is not None else np.full((len(canonical), 3), 0.8)
        skin = np.asarray(albedo, dtype=np.float64) * (identity.skin_rgb / 0.8)
        if template.blendshapes:  # ict-light: eyes and mouth parts keep their own colours
            inner = regions >= 5
            skin[inner] = np.asarray(albedo, dtype=np.float64)[inner]
        else:
            skin[regions == 6] = np.asarray(albedo, dtype=np.float64)[regions == 6] * 0.6  # mouth interior
        self.template_albedo = np.clip(skin, 0, 1)
        self.hair_albedo = np.broadcast_to(identity.hair_rgb, (len(self.hair_vertex_ids), 3))
        self.torso_albedo = np.broadcast_to(identity.shirt_rgb, (len(self.torso_vertices), 3))
        self.material_template = canonical
        self.material_hair = canonical[self.hair_vertex_ids] * np.array([6.0, 0.5, 6.0])  # strands
        self.material_torso = self.torso_vertices * 2.0
        # fine relief of a scanned subject (ict-light): outside every template's span
        self.detail = None
        if template.blendshapes:
            from facebench.synth.arkit import detail_field

            self.detail = detail_field(template, seed, identity.participant)
        # coarse texture (blotches, freckles, folds) baked into the vertex albedo; fine detail per pixel
        for name in ("template_albedo", "hair_albedo", "torso_albedo"):
            material = getattr(self, "material_" + name.split("_")[0])
            coarse = 0.5 * (self.texture.scalar(material, octave=0) + self.texture.scalar(material, octave=1))
            setattr(self, name, np.clip(getattr(self, name) * (1.0 + 0.15 * coarse)[:, None], 0, 1))

    @property
    def base_translation(self) -> np.ndarray:
        """Puts the centre of the head (template without neck) 2 cm above the world origin (+ offset)."""
        c = np.asarray(self.template.canonical_vertices)
        not_neck = np.asarray(self.template.regions) != 4
        head = c[not_neck] if not_neck.any() else c
        return -0.5 * (head.min(axis=0) + head.max(axis=0)) + (0.0, 0.02, 0.0) + self.identity.head_offset

    def template_vertices(self, perf: Performance) -> np.ndarray:
        """(T,V,3) world vertices of the subject over the performance: the deformed template,
        plus the subject's fine relief along the surface normal when it has one."""
        v = deform_performance(self.template, self.identity.shape, perf, self.base_translation)
        if self.detail is not None:
            faces = np.asarray(self.template.faces, dtype=np.int64)
            v = np.stack([vt + vertex_normals(vt, faces) * self.detail[:, None] for vt in v])
        return v

    def frame(self, vertices_t: np.ndarray, perf: Performance) -> FrameScene:
        """The renderable scene for template world vertices ``vertices_t`` (V,3)."""
        faces = np.asarray(self.template.faces, dtype=np.int64)
        n_t = vertices_t.shape[0]
        normals_t = vertex_normals(vertices_t, faces)
        hair = vertices_t[self.hair_vertex_ids] + normals_t[self.hair_vertex_ids] * self.hair_offset[:, None]
        n_h = len(hair)
        verts = np.concatenate([vertices_t, hair, self.torso_vertices])
        all_faces = np.concatenate([faces, self.hair_faces + n_t, self.torso_faces + n_t + n_h])
        albedo = np.concatenate([self.template_albedo, self.hair_albedo, self.torso_albedo])
        material = np.concatenate([self.material_template, self.material_hair, self.material_torso])
        bounds = np.cumsum([len(faces), len(self.hair_faces), len(self.torso_faces)])
        return FrameScene(verts, all_faces, albedo, material, bounds, self.texture, perf)


class FrameScene:
    """One frame: the combined mesh in an Embree scene, shaded on demand per camera."""

    def __init__(self, vertices, faces, albedo, material, kind_bounds, texture, perf: Performance):
        self.vertices, self.faces = vertices, faces
        self.raycaster = Raycaster(vertices, faces)
        normals = vertex_normals(vertices, faces)
        self.attributes = np.concatenate([albedo, normals, material], axis=1).astype(np.float32)
        self.kind_bounds = kind_bounds
        self.texture = texture
        self.perf = perf

    def render(self, camera, background: np.ndarray) -> SceneRender:
        """Render into ``camera`` over the (H,W,3) uint8 ``background``."""
        origin, dirs = _rays(camera)
        shape = dirs.shape[:2]
        t, face_id, bary = self.raycaster.intersect(origin, dirs.reshape(-1, 3))
        hit = face_id >= 0
        fid = face_id[hit]
        b = bary[hit].astype(np.float32)
        # one gather for every per-vertex attribute: albedo (3), normal (3), material (3)
        attr = np.einsum("nk,nkc->nc", b, self.attributes[self.faces[fid]])
        albedo, n, material = attr[:, :3], attr[:, 3:6], attr[:, 6:]
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        view = dirs.reshape(-1, 3)[hit].astype(np.float32)
        view /= np.linalg.norm(view, axis=1, keepdims=True)
        cos_view = np.einsum("ij,ij->i", n, view)
        n *= -np.sign(cos_view)[:, None]  # face the camera
        albedo *= 1.0 + 0.05 * self.texture.fine(material)[:, None]
        p = self.perf
        lambert = np.clip(n @ p.light_dir_world.astype(np.float32), 0.0, None)[:, None]
        rim = 0.045 * np.clip(1.0 - np.abs(cos_view), 0, 1)[:, None]
        shade = p.ambient + (1.0 - p.ambient) * lambert * p.light_rgb[None].astype(np.float32) + rim
        rgb = background.reshape(-1, 3).copy()
        rgb[hit] = np.clip(albedo * shade * 255.0 + 0.5, 0, 255).astype(np.uint8)
        normal = np.zeros((hit.size, 3), np.float32)
        normal[hit] = n
        kind = np.zeros(hit.size, np.uint8)
        kind[hit] = 1 + np.searchsorted(self.kind_bounds, fid, side="right")
        depth = np.where(hit, t, np.nan).astype(np.float32)
        return SceneRender(rgb=rgb.reshape(shape + (3,)), depth=depth.reshape(shape),
                           kind=kind.reshape(shape), face_id=face_id.astype(np.int32).reshape(shape),
                           barycentric=bary.astype(np.float32).reshape(shape + (3,)),
                           normal_world=normal.reshape(shape + (3,)))


class ProceduralTexture:
    """A smooth random scalar field in 3D (sums of sinusoids), values in about [-1, 1]."""

    def __init__(self, rng: np.random.Generator, scale: float = 0.1, octaves: int = 4, waves: int = 6):
        freqs = []
        for o in range(octaves):
            d = rng.normal(size=(waves, 3))
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            freqs.append(d * (2.0 ** o) * 2 * np.pi * 3.0 / scale)
        self.freqs = np.stack(freqs)                       # (O, K, 3) radians per metre
        self.phase = rng.uniform(0, 2 * np.pi, self.freqs.shape[:2])
        self.amp = 0.5 ** np.arange(octaves)               # (O,)

    def fine(self, xyz: np.ndarray) -> np.ndarray:
        """Per-pixel detail: the two finest octaves, 3 waves each, float32, in about [-1, 1]."""
        xyz = np.asarray(xyz, dtype=np.float32)
        cycles = self.freqs[-2:, :3].reshape(-1, 3).astype(np.float32) / np.float32(2 * np.pi)
        offset = (self.phase[-2:, :3].reshape(-1) / (2 * np.pi)).astype(np.float32)
        amp = np.repeat(self.amp[-2:] / self.amp[-2:].sum(), 3).astype(np.float32) / 3 * 2
        # sin through a lookup table: much cheaper than np.sin per pixel
        phase = xyz[:, 0:1] * cycles[:, 0] + xyz[:, 1:2] * cycles[:, 1] + xyz[:, 2:3] * cycles[:, 2] + offset
        idx = (phase * _SIN_TABLE.size).astype(np.int64) & (_SIN_TABLE.size - 1)
        return (_SIN_TABLE[idx] * amp).sum(axis=1)

    def scalar(self, xyz: np.ndarray, octave: int | None = None) -> np.ndarray:
        xyz = np.asarray(xyz, dtype=np.float64)
        octaves = range(len(self.amp)) if octave is None else [octave]
        out = np.zeros(xyz.shape[:-1])
        for o in octaves:
            out += self.amp[o] * np.sin(xyz @ self.freqs[o].T + self.phase[o]).mean(axis=-1) * 2.0
        return np.clip(out / sum(self.amp[o] for o in octaves), -1.0, 1.0)


_RAY_CACHE: dict = {}
_BACKGROUNDS: dict = {}
_SIN_TABLE = np.sin(2 * np.pi * np.arange(1024) / 1024).astype(np.float32)


def _rays(camera):
    """Pixel rays of ``camera`` (cached: the rig's cameras are reused for every frame)."""
    key = (camera.K.tobytes(), camera.T_cam_from_world.tobytes(), camera.width, camera.height)
    if key not in _RAY_CACHE:
        if len(_RAY_CACHE) > 64:
            _RAY_CACHE.clear()
        _RAY_CACHE[key] = camera.pixel_rays()
    return _RAY_CACHE[key]


def background_image(seed: int, serial: str, width: int, height: int) -> np.ndarray:
    """A static studio background for one camera: gradients, soft blobs and fine grain (H,W,3) uint8."""
    import zlib

    key = (seed, serial, width, height)
    if key in _BACKGROUNDS:
        return _BACKGROUNDS[key].copy()
    rng = np.random.default_rng([seed, zlib.crc32(serial.encode()), 31])
    x = (np.arange(width, dtype=np.float32) + 0.5) / width
    y = (np.arange(height, dtype=np.float32) + 0.5) / height
    grey = rng.uniform(0.45, 0.75)
    base = grey + rng.uniform(-0.04, 0.04, 3)  # a near-grey studio wall
    img = np.empty((height, width, 3), np.float32)
    img[:] = (base[None] + (y[:, None] - 0.5) * rng.uniform(-0.15, 0.05)).astype(np.float32)[:, None, :]
    aspect = height / width
    for _ in range(6):  # props and shadows: separable Gaussian blobs
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
        gx = np.exp(-((x - cx) ** 2) / (2 * r * r))
        gy = np.exp(-(((y - cy) * aspect) ** 2) / (2 * r * r))
        colour = (rng.uniform(-0.15, 0.1) + rng.uniform(-0.06, 0.06, 3)).astype(np.float32)
        img += (gy[:, None] * gx[None, :])[..., None] * colour
    fx, fy = rng.uniform(8, 20, 2)
    img += (0.015 * np.sin(2 * np.pi * fy * y)[:, None] * np.sin(2 * np.pi * fx * x)[None, :])[..., None]
    img += np.float32(0.015) * rng.standard_normal(img.shape, dtype=np.float32)
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if len(_BACKGROUNDS) > 64:
        _BACKGROUNDS.clear()
    _BACKGROUNDS[key] = out
    return out.copy()


def deform_performance(template, shape: np.ndarray, perf: Performance, base_translation) -> np.ndarray:
    """(T,V,3) world vertices: ``template.deform`` with the performance's parameters."""
    return np.asarray(template.deform(
        identity=shape, expression=perf.expression,
        neck=euler_to_axis_angle(perf.neck), jaw=euler_to_axis_angle(perf.jaw),
        eyes=np.concatenate([euler_to_axis_angle(perf.eyes[:, :3]),
                             euler_to_axis_angle(perf.eyes[:, 3:])], axis=1),
        rotation=euler_to_axis_angle(perf.rotation),
        translation=perf.translation + base_translation[None], scale=1.0), dtype=np.float64)


def _ellipsoid(center, radii, n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """A UV-sphere ellipsoid mesh: vertices (V,3), faces (F,3) with outward winding."""
    lat = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    ring = np.stack([np.sin(la) * np.sin(lo), np.cos(la), np.sin(la) * np.cos(lo)], -1).reshape(-1, 3)
    verts = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]]) * np.asarray(radii) + np.asarray(center)
    faces = []
    idx = 1 + np.arange(len(lat) * n_lon).reshape(len(lat), n_lon)
    nxt = np.roll(idx, -1, axis=1)
    faces += [np.stack([np.zeros(n_lon, int), idx[0], nxt[0]], 1)]
    a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
    faces += [np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)]
    last = len(verts) - 1
    faces += [np.stack([np.full(n_lon, last), nxt[-1], idx[-1]], 1)]
    return verts, np.concatenate(faces).astype(np.int64)
