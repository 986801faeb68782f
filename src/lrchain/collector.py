"""Python's cyclic garbage collector, paused while torch, MLflow and Hydra load.

Loading them creates ~950k objects that live as long as the process. The collector's full passes
over that growing heap found almost nothing to free and took 1.4 s of a sweep's start on a
2-core machine (9 passes). `train.py` pauses it first thing; it is resumed once the loading is
done: at the end of a sweep's set-up, before Hydra composes every job's config (whose garbage it
must free), and, for a single run or a parallel worker, just before training. Resuming moves
everything loading made out of the collector's way (`gc.freeze`): later passes look only at what
the jobs and training create. It does not first collect what loading left: that pass took
0.6-0.8 s per process (sweep, run, worker) to free 12k of 894k objects, about 9 MB that now stay.
"""

from __future__ import annotations

import gc

_state = {"paused": False, "done": False}


def pause() -> None:
    """Pause the collector: once per process, a later call (another job) does nothing."""
    if not _state["done"] and gc.isenabled():
        _state["paused"] = _state["done"] = True
        gc.disable()


def resume() -> None:
    """Resume a collector `pause()` paused; otherwise nothing (the user's own setting stands)."""
    if _state["paused"]:
        _state["paused"] = False
        gc.freeze()
        gc.enable()
