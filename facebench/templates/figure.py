"""``facebench template show``: a PNG grid to judge a template at a glance.

Rows: neutral (front, three-quarter, profile); identity variations; expression
variations and an open jaw; canonical-coordinate colouring and region labels.
Meshes are ray cast with :func:`facebench.geometry.render_mesh` and shaded with
interpolated vertex normals and the template's albedo.
"""

from __future__ import annotations

import numpy as np

REGION_COLORS = {1: (0.95, 0.75, 0.6), 2: (0.45, 0.3, 0.2), 3: (0.9, 0.45, 0.45), 4: (0.55, 0.75, 0.9),
                 5: (0.95, 0.95, 0.3), 6: (0.7, 0.2, 0.45)}
REGION_NAMES = {1: "face", 2: "scalp", 3: "ears", 4: "neck", 5: "eyes", 6: "mouth interior"}


def look_at_camera(eye, target, size=256, fov_deg=20.0):
    """An OpenCV camera at ``eye`` looking at ``target`` with world +y up in the image."""
    from facebench.geometry import Camera

    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])  # image right
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # image down
    R = np.stack([x, y, z])
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye
    f = 0.5 * size / np.tan(np.deg2rad(fov_deg) / 2)
    K = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    return Camera(K, T, size, size)


def orbit_camera(yaw_deg, target, distance=1.0, size=256, pitch_deg=5.0):
    """Camera on a circle around ``target``; yaw 0 looks at the face (from +z)."""
    yaw, pitch = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    offset = distance * np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    return look_at_camera(np.asarray(target) + offset, target, size)


def shade(vertices, faces, camera, colors=None, background=1.0):
    """Lambert-shaded image (H,W,3) float in [0,1]; ``colors`` (V,3) per vertex or None (grey)."""
    from facebench.geometry import render_mesh, vertex_normals

    render = render_mesh(vertices, faces, camera)
    img = np.full((camera.height, camera.width, 3), background, dtype=np.float64)
    hit = render.hit
    if not hit.any():
        return img
    tri = faces[render.face_id[hit]]
    bary = render.barycentric[hit].astype(np.float64)
    normals = np.einsum("nk,nkc->nc", bary, vertex_normals(vertices, faces)[tri])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    cam_center = camera.center_world
    points = np.einsum("nk,nkc->nc", bary, np.asarray(vertices)[tri])
    to_cam = cam_center - points
    to_cam /= np.linalg.norm(to_cam, axis=1, keepdims=True)
    up = camera.T_world_from_cam[:3, :3] @ np.array([0.3, -0.6, -0.75])
    light = up / np.linalg.norm(up)
    diffuse = np.clip(np.sum(normals * light, axis=1), 0.0, 1.0)
    facing = np.clip(np.sum(normals * to_cam, axis=1), 0.0, 1.0)
    lum = 0.25 + 0.55 * diffuse + 0.2 * facing
    base = np.full((len(tri), 3), 0.8) if colors is None else np.einsum(
        "nk,nkc->nc", bary, np.asarray(colors, dtype=np.float64)[tri])
    img[hit] = np.clip(base * lum[:, None], 0.0, 1.0)
    return img


def template_figure(template, out_path, size=256, seed=0):
    """Write the template overview grid to ``out_path`` (PNG).  Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    neutral = template.deform()
    target = _target(template, neutral)
    albedo = template.albedo
    panels = []
    for yaw, label in ((0, "neutral"), (35, "neutral, 3/4"), (90, "neutral, profile")):
        panels.append((label, shade(neutral, template.faces, orbit_camera(yaw, target, size=size), albedo)))
    for k in range(3):
        ident = rng.normal(size=template.n_identity) * 1.5
        v = template.deform(identity=ident)
        panels.append((f"identity sample {k + 1}", shade(v, template.faces,
                                                         orbit_camera(20, target, size=size), albedo)))
    names = template.expression_names
    blendshapes = "jawOpen" in names  # ARKit-style weights in [0, 1] (ict-light)
    wanted = ("mouthSmile_L", "browInnerUp_L", "eyeBlink_L") if blendshapes else (
        "smile", "brow_raise", "blink_left", "pucker")
    amount = 1.0 if blendshapes else 3.0
    picks = [i for i, n in enumerate(names) if n in wanted][:3]
    for i in picks or range(min(3, template.n_expression)):
        expr = np.zeros(template.n_expression)
        expr[i] = amount
        if blendshapes and names[i].endswith("_L"):  # both sides
            expr[names.index(names[i][:-2] + "_R")] = amount
        label = f"{names[i]} = {amount:g}"
        v = template.deform(expression=expr)
        panels.append((label, shade(v, template.faces, orbit_camera(0, target, size=size), albedo)))
    if blendshapes:
        expr = np.zeros(template.n_expression)
        for name, w in (("jawOpen", 0.6), ("mouthSmile_L", 0.5), ("mouthSmile_R", 0.5)):
            expr[names.index(name)] = w
        v = template.deform(expression=expr, neck=[0.0, 0.3, 0.0])
    else:
        v = template.deform(jaw=[0.3, 0.0, 0.0], expression=np.eye(template.n_expression)[0] * 2.0,
                            neck=[0.0, 0.3, 0.0])
    panels.append(("jaw open, smile, neck turn", shade(v, template.faces, orbit_camera(10, target, size=size),
                                                     albedo)))
    c = template.normalize(template.canonical_vertices)
    canon_colors = np.clip(0.5 + 0.5 * c, 0.0, 1.0)
    panels.append(("canonical xyz -> rgb", shade(neutral, template.faces, orbit_camera(30, target, size=size),
                                                canon_colors)))
    region_colors = np.array([REGION_COLORS.get(int(r), (0.5, 0.5, 0.5)) for r in template.regions])
    panels.append(("regions", shade(neutral, template.faces, orbit_camera(40, target, size=size),
                                    region_colors)))
    cols = 4
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.1 * rows + 0.4))
    for ax, (label, img) in zip(axes.ravel(), panels):
        ax.imshow(img)
        ax.set_title(label, fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=REGION_COLORS[k]) for k in REGION_NAMES]
    fig.legend(handles, [f"{k} {n}" for k, n in REGION_NAMES.items()], loc="lower center", ncol=6,
               fontsize=8, frameon=False)
    fig.suptitle(f"template {template.name}  (V={template.n_vertices}, n_identity={template.n_identity}, "
                 f"n_expression={template.n_expression})", fontsize=10)
    source = getattr(template, "source", None)
    if source and getattr(template, "license_path", None):  # shipped third-party data: credit it
        fig.text(0.5, 0.005, source, ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def _target(template, vertices):
    """Point to aim the cameras at: the middle of the face region (or of the mesh)."""
    face = template.regions == 1
    pts = vertices[face] if face.any() else vertices
    return 0.5 * (pts.min(0) + pts.max(0))
