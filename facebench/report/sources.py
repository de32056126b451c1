"""How each prepared sequence got its ground truth: depth source, masks, fit start, and per view
the multi-view stereo coverage and confidence and the landmark detections (`facebench info`, the
HTML report)."""

from __future__ import annotations

import html


def sequence_sources(reader) -> dict[str, dict]:
    """``{"participant/sequence": attrs subset}`` of a ``GTReader``: ``depth_source``,
    ``masks_from``, ``fit_init``, and per camera ``stereo`` / ``landmarks`` (absent keys: None)."""
    out = {}
    for p, s in reader.sequences():
        attrs = reader.sequence_attrs(p, s)
        out[f"{p}/{s}"] = {k: attrs.get(k) for k in ("depth_source", "masks_from", "fit_init",
                                                     "stereo", "landmarks")}
    return out


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def view_rows(src: dict) -> list[tuple[str, str, str, str, str]]:
    """Per camera: (serial, stereo coverage %, median ZNCC, landmark frames found/inlier, px@512)."""
    stereo, lms = src.get("stereo") or {}, src.get("landmarks") or {}
    rows = []
    for serial in sorted(set(stereo) | set(lms)):
        st, lm = stereo.get(serial, {}), lms.get(serial, {})
        cov = st.get("coverage")
        rows.append((serial, "-" if cov is None else f"{100 * cov:.1f}",
                     _fmt(st.get("confidence_median"), ".3f"),
                     f"{lm['found']}/{lm['inlier']}" if lm else "-",
                     _fmt(lm.get("reprojection_px512"), ".2f")))
    return rows


HEADER = ("camera", "stereo coverage %", "stereo ZNCC", "landmarks found/inlier", "landmark px@512")


def source_lines(sources: dict[str, dict]) -> list[str]:
    """Plain-text lines for ``facebench info``: one summary line per sequence, then its views."""
    lines = []
    for key, src in sorted(sources.items()):
        lines.append(f"{key}: depth {src.get('depth_source') or '-'}, masks {src.get('masks_from') or '-'}, "
                     f"fit start {src.get('fit_init') or '-'}")
        rows = view_rows(src)
        if rows:
            lines.append("  " + " | ".join(HEADER))
            lines += ["  " + " | ".join(r) for r in rows]
    return lines


def source_table(sources: dict[str, dict]) -> str:
    """HTML section of the report: one table per sequence."""
    e = html.escape
    parts = []
    for key, src in sorted(sources.items()):
        parts.append(f"<h3>{e(key)}</h3><p>depth: {e(str(src.get('depth_source') or '-'))}; "
                     f"masks: {e(str(src.get('masks_from') or '-'))}; "
                     f"fit start: {e(str(src.get('fit_init') or '-'))}</p>")
        rows = view_rows(src)
        if rows:
            head = "".join(f"<th>{e(h)}</th>" for h in HEADER)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
    return "\n".join(parts)
