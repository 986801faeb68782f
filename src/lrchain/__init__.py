"""lrchain: compare chained learning-rate schedules, tracked in MLflow."""

__version__ = "0.1.0"
