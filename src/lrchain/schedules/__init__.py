"""Learning-rate schedules as trees: leaves are torch schedulers, nodes chain or sequence them.

`tree` is the runtime (nodes, stepping, state, the expected curve); `build` turns a config into
a tree, checking every `sched.*` key on the way (`leaves` checks a leaf's arguments).
"""

from lrchain.schedules.build import build_schedule, expected_group_lrs, expected_lrs
from lrchain.schedules.checks import ScheduleError
from lrchain.schedules.leaves import SCHEDULERS
from lrchain.schedules.tree import Schedule

__all__ = [
    "SCHEDULERS",
    "Schedule",
    "ScheduleError",
    "build_schedule",
    "expected_group_lrs",
    "expected_lrs",
]
