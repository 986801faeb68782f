"""One colour per schedule (or group) name, the same in every figure lrchain draws."""

from __future__ import annotations

import hashlib

# tab20's colours, the dark ones first: distinct on white, and the same for a name everywhere.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
# The catalog's schedules keep fixed, well-separated colours; other names hash into the palette.
FIXED = {
    "step": 0, "exp": 1, "chain": 2, "cosine": 3, "warmup_cosine": 4, "onecycle": 5,
    "cyclic": 6, "constant": 7, "poly": 8, "multistep": 9, "cosine_restarts": 10,
    "plateau": 11, "warmup_chain": 12, "chain_plateau": 13,
}  # fmt: skip


def colour_of(name: str) -> str:
    """The colour of `name`: a catalog schedule's own, else one picked by the name's hash."""
    if name in FIXED:
        return PALETTE[FIXED[name]]
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return PALETTE[digest % len(PALETTE)]


def colours_for(names: list[str]) -> dict[str, str]:
    """A colour for each of `names`: its own where it is free, else the next free one."""
    taken: dict[str, str] = {}
    for name in names:
        colour = colour_of(name)
        start = PALETTE.index(colour)
        for step in range(len(PALETTE)):
            candidate = PALETTE[(start + step) % len(PALETTE)]
            if candidate not in taken.values():
                colour = candidate
                break
        taken[name] = colour
    return taken
