"""The one door to an MLflow store: which store, opening it, reading runs, writing epochs.

Every command and every run reaches MLflow's tracking API through these functions.
"""

from lrchain.store.artifacts import (
    get_checkpoint,
    local_artifact_dir,
    put_checkpoint,
    put_texts,
)
from lrchain.store.opening import (
    connect,
    open_existing,
    open_experiment,
    release_connections,
    unreachable,
)
from lrchain.store.params import MAX_PARAM_VALUE, changed_keys, flatten
from lrchain.store.reading import (
    History,
    children_of,
    get_run,
    histories,
    is_sweep,
    logged_steps,
    read_text,
    runs_by_id,
    runs_of_experiment,
    search,
    sql_bulk_reader,
)
from lrchain.store.uri import DEFAULT_URI, add_uri_argument, resolve_uri, sqlite_file
from lrchain.store.writing import (
    Point,
    epoch_points,
    log_epoch,
    log_points,
    logged_points,
    relog_missed,
    start_run,
)

__all__ = [
    "DEFAULT_URI",
    "MAX_PARAM_VALUE",
    "History",
    "Point",
    "add_uri_argument",
    "changed_keys",
    "children_of",
    "connect",
    "epoch_points",
    "flatten",
    "get_checkpoint",
    "get_run",
    "histories",
    "is_sweep",
    "local_artifact_dir",
    "log_epoch",
    "log_points",
    "logged_points",
    "logged_steps",
    "open_existing",
    "open_experiment",
    "put_checkpoint",
    "put_texts",
    "read_text",
    "release_connections",
    "relog_missed",
    "resolve_uri",
    "runs_by_id",
    "runs_of_experiment",
    "search",
    "sql_bulk_reader",
    "sqlite_file",
    "start_run",
    "unreachable",
]
