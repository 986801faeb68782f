"""The names users and scripts rely on (../shared/DESIGN.md): metrics, tags, artifacts.

Defined once here; every module that logs or reads them imports them from here.
"""

# Metrics, logged once per epoch at step = epoch (from 0).
LR = "lr"  # the learning rate the optimizer used during the epoch (first param group)
LR_HEAD = "lr/head"  # the head's, when it has its own group (optim.head_lr; lrchain.param_groups)
BODY, HEAD = "body", "head"  # the param groups' names: the model, and its last linear layer
TRAIN_LOSS = "train/loss"
VAL_LOSS = "val/loss"
VAL_ACC = "val/acc"
EPOCH_SECONDS = "epoch_seconds"  # wall clock: shown, never expected to reproduce
TEST_LOSS = "test/loss"  # the official test set, once, at the last epoch
TEST_ACC = "test/acc"
LR_STEP = "lr_step"  # per-batch schedules: lr at step = global batch index
CURVES = (LR, TRAIN_LOSS, VAL_LOSS, VAL_ACC)  # what comparisons draw
MONITORED = (TRAIN_LOSS, VAL_LOSS, VAL_ACC)  # what a plateau schedule may watch
TIMING = (EPOCH_SECONDS,)

# Tags.
TAG_SCHED = "lrchain.sched"
TAG_SWEEP = "lrchain.sweep"
TAG_PARENT = "mlflow.parentRunId"
TAG_DIVERGED = "lrchain.diverged"
TAG_DIVERGED_EPOCH = "lrchain.diverged_epoch"
TAG_REPRODUCED_FROM = "lrchain.reproduced_from"
TAG_RESUME_CHANGES = "lrchain.resume_changes"
TAG_PARAMS_TRUNCATED = "lrchain.params_truncated"
TAG_THREADS = "lrchain.threads"  # the intra-op threads the run trained with
TAG_RESUME_DIVERGED_EPOCH = "lrchain.resume_diverged_epoch"  # first re-run epoch unlike the logged
TAG_GROUP = "lrchain.group"  # a sweep's child: its group, the params it shares with its seeds
TAG_TRIAL = "lrchain.trial"  # a schedule search's child: its Optuna trial number
TAG_PRUNED = "lrchain.pruned"  # "true": the study's pruner stopped the run early (it ends FINISHED)
TAG_PRUNED_EPOCH = "lrchain.pruned_epoch"  # the last epoch it trained (from 0, as MLflow's step)
TAG_STUDY = "lrchain.study"  # a schedule search's parent run: the Optuna study it ran trials of

# Artifacts of a run (paths inside its artifact root).
CONFIG_ARTIFACT = "config/config.yaml"
OVERRIDES_ARTIFACT = "config/overrides.yaml"
EXPECTED_ARTIFACT = "lr_expected.csv"
CHECKPOINT_ARTIFACT = "checkpoint/last.pt"
ERROR_ARTIFACT = "error.txt"
COMPARISON_ARTIFACTS = "comparison"  # a sweep's parent run: figures and tables
SEARCH_ARTIFACTS = "search"  # a search's parent run: Optuna's figures, optimization_results.yaml
SEARCH_RESULTS = "optimization_results.yaml"  # in the sweep folder too, where Hydra's users look
# A search's parent run also holds params search.* (study, storage, objective, direction, trials),
# best.KEY (the best trial's params) and metrics best/OBJECTIVE, search/epochs_{trained,budget,
# pruned_away} (lrchain.search.report).
# A sweep's parent run also holds each group's summary as metrics at step 0:
# GROUP/n, GROUP/FIGURE_{mean,std,min,max}, GROUP/METRIC_{diff,ci_low,ci_high} (lrchain.grouped).
