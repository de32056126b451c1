"""Layers point down (STYLE 13): the lower layers import nothing from the layers that use them."""

import ast
from pathlib import Path

import facebench

PACKAGE = Path(facebench.__file__).parent
LOWER = ("io", "metrics", "geometry")
UPPER = ("evaluate", "prepare", "baseline", "cli", "leaderboard", "report", "demo", "adapters",
         "synth", "nersemble", "server")


def imported_modules(path: Path):
    """Every module a file imports, including imports inside functions (absolute names)."""
    package = "facebench." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def test_lower_layers_import_no_upper_layer():
    bad = []
    for layer in LOWER:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for module in imported_modules(path):
                parts = module.split(".")
                if parts[0] == "facebench" and len(parts) > 1 and parts[1] in UPPER:
                    bad.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_scan_sees_imports_inside_functions(tmp_path):
    probe = PACKAGE / "io" / "predictions.py"
    assert "facebench.io.prediction_source" in set(imported_modules(probe))


def test_evaluate_scales_out_without_prepare():
    """evaluate uses the shared backends (facebench.parallel), never prepare's fitting code."""
    bad = [f"{path.relative_to(PACKAGE)} imports {module}"
           for path in [*sorted((PACKAGE / "evaluate").rglob("*.py")), PACKAGE / "parallel.py"]
           for module in imported_modules(path) if module.startswith("facebench.prepare")]
    assert not bad, "\n".join(bad)
