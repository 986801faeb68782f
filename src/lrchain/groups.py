"""Groups of runs: runs whose params differ only in the seed are replicates of one group.

A grouping key is a param (`optim.lr`, `seed`) or a config group (`sched`, `data`, `model`,
`optim`), whose value is its `name` param (`sched.name`). Pure functions of params.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lrchain.errors import ConfigError

SEED = "seed"
NONE = "none"  # --group-by none: every run on its own, today's per-run view
IGNORED = ("tracking.",)  # where a run was logged does not change what it learned
MISSING = "-"  # the value of a key a run has no param for
ALL = "all runs"  # the name of the one group of runs that differ only in seed


@dataclass(frozen=True)
class Group:
    """Runs with the same values of `keys`, in the order they were given."""

    keys: tuple[str, ...]
    values: tuple[str, ...]
    run_ids: tuple[str, ...]

    @property
    def name(self) -> str:
        """`sched=chain` or `sched=chain,optim.lr=0.05`: the overrides that make the group."""
        pairs = [f"{k}={v}" for k, v in zip(self.keys, self.values, strict=True)]
        return ",".join(pairs) or ALL

    @property
    def label(self) -> str:
        """For legends, tables and verdicts: a name alone (`chain`), else the name of the group."""
        from lrchain.overrides import readable

        one = len(self.keys) == 1 and self.values[0][:1].isalpha()
        pairs = [readable(f"{k}={v}") for k, v in zip(self.keys, self.values, strict=True)]
        return self.values[0] if one else ",".join(pairs) or ALL


def value_of(params: Mapping[str, str], key: str) -> str | None:
    """The value of `key` in a run's params: the param itself, else the config group's name."""
    return params[key] if key in params else params.get(f"{key}.name")


def default_keys(params: Sequence[Mapping[str, str]]) -> list[str]:
    """Every param that differs between the runs except the seed (in a sweep: the swept keys).

    The params of a config group chosen by name (`sched=step,chain`) count as that one key
    (`sched`); one of them that still differs between runs of the same name is a key of its own.
    Params that only some runs have (a config key new in a later version) are left out.
    """
    every = sorted({k for p in params for k in p})
    varying = _varying(params, every)
    chosen = {k.split(".")[0] for k in varying if k.endswith(".name") and k.count(".") == 1}
    keys = sorted(chosen) + [k for k in varying if k.split(".")[0] not in chosen]
    inside = [k for k in every if k.split(".")[0] in chosen and not k.endswith(".name")]
    for members in _split(params, keys).values():
        keys += [k for k in _varying([params[i] for i in members], inside) if k not in keys]
    return keys


def resolve_keys(requested: str | None, params: Sequence[Mapping[str, str]]) -> list[str] | None:
    """The keys `--group-by` names (None: the default keys); None for `--group-by none`."""
    if requested is None or requested.strip() == "":
        return default_keys(params)
    keys = [k.strip() for k in requested.split(",") if k.strip()]
    if keys == [NONE]:
        return None
    for key in keys:
        if not any(value_of(p, key) is not None for p in params):
            groups = sorted({k.split(".")[0] for p in params for k in p if k.endswith(".name")})
            allowed = [*groups, *default_keys(params), SEED, NONE]
            raise ConfigError(
                f"--group-by: no run has a param or config group {key!r}; allowed:"
                f" {', '.join(dict.fromkeys(allowed))}, or any param name (e.g. optim.lr)"
            )
    return keys


def group_runs(
    run_ids: Sequence[str], params: Sequence[Mapping[str, str]], keys: Sequence[str]
) -> list[Group]:
    """The runs grouped by their values of `keys`, groups in the order of their first run."""
    split = _split(params, keys)
    return [
        Group(tuple(keys), values, tuple(run_ids[i] for i in members))
        for values, members in split.items()
    ]


def metric_prefixes(groups: Sequence[Group]) -> dict[str, str]:
    """group name -> the prefix of its metric keys (`chain` in `chain/best_val_loss_mean`).

    One key: the value; several: `sched_chain optim.lr_0.05`. Letters, digits, `_-.` and space
    only, never `.` or `..` alone, and no two groups alike.
    """
    prefixes: dict[str, str] = {}
    for group in groups:
        pairs = zip(group.keys, group.values, strict=True)
        parts = group.values if len(group.keys) == 1 else [f"{k}={v}" for k, v in pairs]
        text = " ".join(re.sub(r"[^\w.\- ]", "_", p) for p in parts) or "all"
        text = f"_{text}" if text.strip(".") == "" else text
        prefix, n = text, 2
        while prefix in prefixes.values():
            prefix, n = f"{text}_{n}", n + 1
        prefixes[group.name] = prefix
    return prefixes


def _varying(params: Sequence[Mapping[str, str]], keys: Sequence[str]) -> list[str]:
    """The keys every run has, with more than one value; a key some runs lack was added or
    removed between versions of lrchain, or belongs to a config group that differs already."""
    return [
        k
        for k in keys
        if k != SEED
        and not k.startswith(IGNORED)
        and all(k in p for p in params)
        and len({p[k] for p in params}) > 1
    ]


def _split(params: Sequence[Mapping[str, str]], keys: Sequence[str]) -> dict[tuple, list[int]]:
    """values of `keys` -> the indices of the runs holding them, in first-seen order."""
    split: dict[tuple, list[int]] = {}
    for i, p in enumerate(params):
        values = tuple(value_of(p, k) or MISSING for k in keys)
        split.setdefault(values, []).append(i)
    return split
