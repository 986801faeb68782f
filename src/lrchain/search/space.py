"""A search space from Hydra's override grammar: choice, range, interval, tag(log|int, ...).

`optim.lr=tag(log,interval(0.01,1))` becomes a log-uniform float, `sched.chain.step.step_size=
range(1,6)` an integer 1..5, `sched=step,exp` a category; overrides that sweep nothing are kept
as they are and given to every trial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lrchain.errors import ConfigError

PLAIN = re.compile(r"^[\w./:+-]+$")  # a value the override grammar reads back without quotes


@dataclass
class Space:
    """What each trial samples (key -> Optuna distribution) and what every trial shares."""

    distributions: dict[str, Any] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """One trial's command line: the shared overrides, then its sampled values."""
        return [*self.fixed, *(f"{key}={as_override(params[key])}" for key in self.distributions)]


def parse(arguments: list[str]) -> Space:
    """The space of `arguments` (later ones win over earlier ones with the same key)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space = Space()
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        space.fixed = [f for f in space.fixed if f.split("=", 1)[0] != key]
        space.distributions.pop(key, None)
        if override.is_sweep_override():
            space.distributions[key] = distribution(key, override.value())
        else:
            space.fixed.append(override.input_line)
    if not space.distributions:
        raise ConfigError(
            "hydra/sweeper=schedule_search: nothing to search; give ranges on the command line"
            " (or in hydra.sweeper.params), e.g. 'optim.lr=tag(log,interval(0.01,1))'"
            " 'sched.chain.step.step_size=range(1,6)' sched=step,exp"
        )
    return space


def distribution(key: str, sweep: Any) -> Any:
    """The Optuna distribution of one swept override (a ChoiceSweep, RangeSweep, IntervalSweep)."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    tags = set(sweep.tags)
    unknown = tags - {"log", "int"}
    if unknown:
        raise ConfigError(f"{key}: unknown tag {sorted(unknown)}; allowed: log, int")
    log = "log" in tags
    if isinstance(sweep, ChoiceSweep):
        if any(not isinstance(v, (str, int, float, bool)) and v is not None for v in sweep.list):
            raise ConfigError(f"{key}: choice() of lists or dicts cannot be searched: {sweep.list}")
        return CategoricalDistribution(list(sweep.list))
    if isinstance(sweep, RangeSweep):
        values = list(_range(sweep.start, sweep.stop, sweep.step))
        if not values:
            raise ConfigError(f"{key}: range({sweep.start},{sweep.stop},{sweep.step}) is empty")
        if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
            step = None if log else sweep.step  # Optuna: a log scale has no step
            return IntDistribution(values[0], values[-1], log=log, step=step or 1)
        return FloatDistribution(values[0], values[-1], step=None if log else sweep.step, log=log)
    if isinstance(sweep, IntervalSweep):
        if sweep.start >= sweep.end or (log and sweep.start <= 0):
            allowed = "0 < low < high" if log else "low < high"
            raise ConfigError(f"{key}: interval({sweep.start},{sweep.end}): needs {allowed}")
        if "int" in tags:
            return IntDistribution(int(sweep.start), int(sweep.end), log=log)
        return FloatDistribution(sweep.start, sweep.end, log=log)
    raise ConfigError(f"{key}: {sweep} cannot be searched; use choice, range or interval")


def _range(start: float, stop: float, step: float) -> list[float]:
    values, value = [], start
    while (value < stop) if step > 0 else (value > stop):
        values.append(value)
        value = start + step * len(values)  # no accumulated rounding
    return values


def as_override(value: Any) -> str:
    """A sampled value as the override grammar reads it back unchanged."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if PLAIN.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
