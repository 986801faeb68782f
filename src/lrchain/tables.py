"""Tables for people: Markdown with aligned columns, readable as it is in a terminal."""

from __future__ import annotations

from collections.abc import Sequence


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table of text cells, each column as wide as its widest cell; ends in a newline."""
    cells = [list(header)] + [list(row) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def short(text: str, width: int = 48) -> str:
    """`text` cut to `width` characters with an ellipsis: a cell, legend or title stays legible."""
    return text if len(text) <= width else text[: width - 1] + "…"
