"""Errors a user can cause: each message names the config key, the value and what is allowed."""


class ConfigError(ValueError):
    """A config that cannot be used as it is."""


class TrackingError(RuntimeError):
    """A tracking store that cannot be reached or written."""


def did_you_mean(name: object, names: "list[str] | tuple[str, ...]") -> str:
    """` (did you mean 'x'?)` for the closest of `names`, or nothing."""
    import difflib

    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
