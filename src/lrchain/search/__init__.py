"""Search a schedule's parameters with Optuna, through Hydra's sweeper interface.

The plugin (hydra/sweeper=schedule_search) lives in hydra_plugins.lrchain_search, where Hydra
finds it; this package does the work: space.py (overrides -> distributions), study.py (the
study and its batches), trial.py (a job's trial, pruned per epoch), report.py (the study in
MLflow), sweeper.py (the sweep from start to end).
"""
