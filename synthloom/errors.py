"""User-facing errors: one clear message naming what is wrong and where."""

from __future__ import annotations


class SynthloomError(Exception):
    """An error the CLI reports as one message and a non-zero exit, without a traceback."""


class SpecError(SynthloomError):
    """The run spec is missing, unreadable, or fails validation."""


class EndpointError(SynthloomError):
    """A model endpoint cannot be reached or refuses our credentials."""


class RunDirError(SynthloomError):
    """The output folder holds files that do not belong to this run."""


def yaml_error(source: object, exc: Exception) -> str:
    """`FILE:LINE: invalid YAML: problem` for a PyYAML error (its own dump spans lines)."""
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{source}{where}: invalid YAML: {problem}"
