"""Errors a user can cause: each message names the config key, the value and what is allowed."""


class ConfigError(ValueError):
    """A config that cannot be used as it is."""


class TrackingError(RuntimeError):
    """A tracking store that cannot be reached or written."""
