"""Per-language patterns for the turn checks and the refusal filter: one YAML file each.

English lives in `graphs/checks.py` (its patterns came first and are tuned there).
Another language is one file here, `CODE.yaml`, holding regular expressions under
the kinds below, plus its labelled examples measured with `synthloom checks eval`
(README, "Languages"). Every file's patterns run on every turn: a pattern in one
script cannot match text in another, and a turn in an unplanned language is the
language filter's to catch.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml

from synthloom.core.errors import SynthloomError

KINDS = (
    "assistant_opener",  # a user turn that opens as an assistant does (role flip)
    "assistant_anywhere",  # what a person seeking help says nowhere in their turn
    "speaker_tag",  # the assistant writing the person's lines ("사용자: ...")
    "placeholder",  # a template slot left in a person's message
    "meta",  # the role writing about the generation (our prompt's headings echoed)
    "refusal",  # a refusal or AI disclaimer in an assistant turn (curation)
)


class PatternFileError(SynthloomError):
    """A language's pattern file is malformed."""


def pattern_languages() -> list[str]:
    """Codes of the languages with a pattern file."""
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files(__name__).iterdir()
        if p.name.endswith(".yaml")
    )


@cache
def _load(code: str) -> dict[str, list[str]]:
    name = f"{code}.yaml"
    data = yaml.safe_load(resources.files(__name__).joinpath(name).read_text("utf-8")) or {}
    if not isinstance(data, dict) or set(data) - set(KINDS):
        raise PatternFileError(
            f"graphs/patterns/{name}: top-level keys must be among {', '.join(KINDS)}"
        )
    out: dict[str, list[str]] = {}
    for kind, patterns in data.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise PatternFileError(f"graphs/patterns/{name}: {kind} must be a list of strings")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise PatternFileError(f"graphs/patterns/{name}: {kind}: {exc}") from None
        out[kind] = patterns
    return out


def patterns_of(kind: str) -> tuple[str, ...]:
    """Every language file's patterns of `kind`."""
    return tuple(p for code in pattern_languages() for p in _load(code).get(kind, []))


@cache
def compiled(kind: str) -> re.Pattern[str] | None:
    """Every language's patterns of `kind` as one expression (None when there are none)."""
    found = patterns_of(kind)
    if not found:
        return None
    flags = re.IGNORECASE | (re.MULTILINE if kind == "speaker_tag" else 0)
    return re.compile("|".join(f"(?:{p})" for p in found), flags)
