"""A config as MLflow params: dotted keys MLflow accepts, values as text, no two keys alike."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

MAX_PARAM_VALUE = 6000  # MLflow's limit on a param value's length
MAX_KEY = 250  # MLflow's limit on a param key's length


def flatten(config: Any) -> dict[str, str]:
    """Dotted keys to string values (`{'optim': {'lr': 0.1}}` -> `{'optim.lr': '0.1'}`).

    Keys are made ones MLflow accepts (other characters become `_`, at most 250 long) and never
    collide: a key seen before gets `_2`, `_3`, ... The whole config stays in config.yaml.
    """
    flat: dict[str, str] = {}
    for raw, value in _pairs(config, ""):
        key = base = _param_key(raw)
        n = 2
        while key in flat:
            key = f"{base[: MAX_KEY - len(str(n)) - 1]}_{n}"
            n += 1
        flat[key] = value
    return flat


def changed_keys(params: Mapping[str, str], logged: Mapping[str, str]) -> list[str]:
    """The param keys whose values differ between two flattened configs, sorted."""
    return sorted(k for k in params.keys() | logged.keys() if params.get(k) != logged.get(k))


def _pairs(node: Any, prefix: str) -> Iterator[tuple[str, str]]:
    items = node.items() if isinstance(node, Mapping) else enumerate(node)
    for k, value in items:
        key = f"{prefix}{k}"
        if (isinstance(value, Mapping) and value) or _nested_list(value):
            yield from _pairs(value, f"{key}.")
        else:
            yield key, _text(value)


def _param_key(key: str) -> str:
    key = re.sub(r"[^\w.\- ]", "_", key)[:MAX_KEY]
    return f"_{key}"[:MAX_KEY] if not key or key.startswith(".") else key


def _nested_list(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return json.dumps(value)
    return "{}" if isinstance(value, Mapping) else str(value)
