"""How a run ends when something goes wrong: signals, exceptions, and the status it gets."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator

from lrchain.contract import TAG_DIVERGED, TAG_DIVERGED_EPOCH
from lrchain.engine import Diverged
from lrchain.spool import RunLog


@contextlib.contextmanager
def ends_truthfully(log: RunLog) -> Iterator[None]:
    """FINISHED; KILLED on Ctrl-C or SIGTERM; FAILED with the traceback (a divergence tagged).

    An interruption ends the process with one line (what happened, how to go on) and exit
    code 130, not a traceback: it is what the user asked for.
    """
    with _interruptible():
        try:
            yield
        except KeyboardInterrupt:
            log.end("KILLED")
            print(
                f"\n[lrchain] interrupted: run {log.run_id} is KILLED, its last checkpoint kept;"
                f" continue it with `lrchain resume {log.run_id}`",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(130) from None
        except BaseException as err:
            if isinstance(err, Diverged):
                log.tag({TAG_DIVERGED: "true", TAG_DIVERGED_EPOCH: str(err.epoch)})
            log.end("FAILED", traceback.format_exc())
            raise
    log.end("FINISHED")


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C (KILLED); a second signal exits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, second)
        raise KeyboardInterrupt

    def second(signum, frame):
        os._exit(128 + signum)

    previous = {sig: signal.signal(sig, first) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
