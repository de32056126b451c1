"""Errors meant for people.

A :class:`FacebenchError` is a user mistake or bad input (missing file, malformed
prediction, unknown benchmark).  The CLI prints its message as one line and exits
with status 2; anything else is a bug and keeps its traceback.
"""


class FacebenchError(Exception):
    """A user-facing error: one clear line, no traceback."""


class InputError(FacebenchError):
    """An input file or folder is missing, unreadable or malformed."""

    def __init__(self, message: str, path=None):
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


class ValidationError(FacebenchError):
    """Data does not follow its schema (SPEC sections 4 and 5)."""


def did_you_mean(name: str, choices) -> str:
    """A ' (did you mean X?)' hint for an unknown name, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def require(module: str, extra: str):
    """Import an optional dependency or fail with the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FacebenchError(
            f"{module} is not installed: pip install 'facebench[{extra}]'"
        ) from exc
