"""Regenerate the prediction and results tables of docs/FORMATS.md from the schema objects.

    python -m facebench.io.formats_doc [docs/FORMATS.md]

Only the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` markers is
replaced, so hand-written prose around the tables (and other sections) stays.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def results_markdown() -> str:
    from facebench.io.results import RESULTS_SCHEMA

    lines = ["| key | type | content |", "|---|---|---|"]
    names = {"int": "integer", "str": "string", "dict": "object", "float": "number", "list": "array"}
    for key, (kind, doc) in RESULTS_SCHEMA.items():
        lines.append(f"| `{key}` | {names[kind.__name__]} | {doc} |")
    return "\n".join(lines) + "\n"


def sections() -> dict[str, str]:
    from facebench.io.encodings import markdown_table as storage_table
    from facebench.io.predictions import schema_markdown
    from facebench.io.schema import markdown_table

    return {"shards": markdown_table() + "\n", "shards-v2": storage_table() + "\n",
            "predictions": schema_markdown(),
            "results": results_markdown()}


def update(text: str) -> str:
    for name, table in sections().items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        block = f"{begin}\n{table}{end}"
        if begin in text:
            text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _, b=block: b, text, flags=re.S)
        else:
            text += f"\n{block}\n"
    return text


def main(path="docs/FORMATS.md") -> None:
    path = Path(path)
    path.write_text(update(path.read_text() if path.exists() else ""))
    print(f"updated {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
