"""Visual reports: a PNG panel per clip, an HTML page showing them, and summaries of folders.

``show_clip(path, clip_id, out_png, gt=None)``, ``write_report(gt_dir, preds_dir=None,
results=None, fidelity=None, out_dir="report")``, ``info(path)`` / ``summarize(path)``;
``write_comparison(gt_dir, results, out_dir="report")`` compares any number of methods.
"""

from facebench.report.compare import write_comparison
from facebench.report.html import load_fidelity, write_report
from facebench.report.info import info, summarize
from facebench.report.panel import folder_kind, show_clip

__all__ = ["folder_kind", "info", "load_fidelity", "show_clip", "summarize", "write_comparison",
           "write_report"]
