"""The command line of train.py, checked before Hydra composes it: mistakes in lrchain's words.

Hydra answers a typo in a key with "To append to your config use +KEY=VALUE" (the wrong fix)
and an unknown option with a bare list; lrchain names the closest valid names instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lrchain.errors import ConfigError, did_you_mean

MAX_COMBINATIONS = 50  # group choices checked together; a larger sweep checks its first ones


def check_command_line(args: list[str], conf: Path) -> None:
    """Refuse an override naming an unknown config option or key, before anything runs."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    texts = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(texts)
    except HydraException:
        return  # a syntax error: Hydra's own message points at the character
    ours = [o for o in parsed if not o.key_or_group.startswith("hydra")]
    ours = [o for o in ours if not (o.is_add() or o.is_delete() or o.is_force_add())]
    groups = {p.name: _options(p) for p in conf.iterdir() if p.is_dir() and p.name != "hydra"}
    choices = {o.key_or_group: _values(o) for o in ours if o.key_or_group in groups}
    for group, values in choices.items():
        for value in values:
            if value not in groups[group]:
                raise ConfigError(
                    f"{group}: no option {value!r}{did_you_mean(value, groups[group])};"
                    f" allowed: {', '.join(groups[group])} (files of conf/{group}/)"
                )
    keys = [o.key_or_group for o in ours if o.key_or_group not in groups]
    if keys:
        for picked in itertools.islice(_combinations(choices), MAX_COMBINATIONS):
            check_keys(keys, _compose(picked, conf))


def _options(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _values(override: Any) -> list[str]:
    if override.is_discrete_sweep():
        return [str(v) for v in override.sweep_string_iterator()]
    return [str(override.value())]


def _combinations(choices: Mapping[str, list[str]]) -> Iterator[list[str]]:
    names = list(choices)
    for values in itertools.product(*(choices[n] for n in names)):
        yield [f"{n}={v}" for n, v in zip(names, values, strict=True)]


def _compose(overrides: list[str], conf: Path) -> dict[str, Any]:
    from lrchain.configs import compose, plain

    return plain(compose(overrides, conf))


def check_keys(keys: list[str], config: Mapping[str, Any]) -> None:
    """Refuse a key that `config` lacks, naming the closest ones it has."""
    for key in keys:
        node: Any = config
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, Mapping) or part not in node:
                where = ".".join(parts[:depth]) or "the config"
                known = sorted(node) if isinstance(node, Mapping) else []
                raise ConfigError(
                    f"{key}: {where} has no key {part!r}{did_you_mean(part, known)};"
                    f" allowed: {', '.join(known) or 'nothing below it'}"
                )
            node = node[part]


def readable(override: str) -> str:
    """`key=value` with a long float cut to 4 significant digits (a search's draws): a name."""
    key, _, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        return override
    long = len(value) > 8 and not value.lstrip("-").isdigit()
    return f"{key}={number:.4g}" if long else override
