"""The languages of a run: `language` in the spec, dealt like any condition, and its prompts.

`language: ko` or `language: {ko: 3, en: 1}` becomes the `language` condition, so the
allocator deals it evenly with the other attributes, every plan carries it and every
record's conditions name it. Roles write in their plan's language; curation checks
each sample against it; the run's embedder is the multilingual one as soon as any
planned language is not English.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from prompts import PromptSource, language_name
from synthloom.core import names
from synthloom.core.config import StrictModel

LANGUAGE = "language"
ENGLISH = "en"
_CODE = re.compile(r"^[a-z]{2,3}$")


def fold_language(data: Any) -> Any:
    """Move a spec's top-level `language` into its `conditions` (before validation)."""
    if not isinstance(data, dict) or LANGUAGE not in data:
        return data
    rest = {k: v for k, v in data.items() if k != LANGUAGE}
    conditions = rest.get("conditions") or {}
    if not isinstance(conditions, dict):
        return data  # the conditions' own error says what is wrong
    if LANGUAGE in conditions:
        raise ValueError(
            "`language` is set twice, at the top level and under `conditions`: keep one"
        )
    raw = data[LANGUAGE]
    if isinstance(raw, str):
        raw = [raw]
    if raw is None or (isinstance(raw, list | dict) and not raw):
        raise ValueError("`language` needs a language code (`ko`) or weighted codes (`{ko: 3}`)")
    return {**rest, "conditions": {**conditions, LANGUAGE: raw}}


def check_codes(values: Sequence[str]) -> None:
    """Each planned language is an ISO 639-1 code, as py3langid names languages."""
    for value in values:
        if not _CODE.match(value):
            raise ValueError(
                f"language {value!r} is not a language code: write ISO 639-1 codes such as "
                "`ko`, `en`, `ja` (lowercase)"
            )


def planned_languages(conditions: Mapping[str, Sequence[Any]]) -> list[str]:
    """The languages a run's plans are dealt (English when the spec names none)."""
    values = conditions.get(LANGUAGE)
    if not values:
        return [ENGLISH]
    return [str(v.get("value") if isinstance(v, dict) else getattr(v, "value", v)) for v in values]


def describe(codes: Sequence[str]) -> str:
    """`Korean (ko), English (en)` for reports and messages."""
    return ", ".join(f"{language_name(c)} ({c})" for c in codes)


class PromptsSpec(StrictModel):
    """`prompts`: folders of prompt files that replace the packaged ones, file by file.

    A file the folder lacks is the packaged one. For a sample in language L the
    lookup is `languages[L]`, then `dir/L/`, then the packaged `prompts/L/`, then the
    English file with an instruction to write in L.
    """

    dir: Path | None = Field(
        default=None, description="A folder of prompt overrides for the generation roles."
    )
    languages: dict[str, Path] = Field(
        default_factory=dict, description="Per language code, a folder of that language's files."
    )

    def source(self) -> PromptSource:
        """The loader's view of these folders."""
        return PromptSource.of(self.dir, self.languages)

    def anchored(self, folder: Path) -> PromptsSpec:
        """Relative folders read from the spec's own folder."""
        return PromptsSpec(
            dir=folder / self.dir if self.dir is not None else None,
            languages={k: folder / v for k, v in self.languages.items()},
        )

    def missing(self) -> list[str]:
        """Folders named here that do not exist, as `field: path`."""
        named = [("prompts.dir", self.dir)] if self.dir is not None else []
        named += [(f"prompts.languages.{k}", v) for k, v in self.languages.items()]
        return [f"{field}: {path}" for field, path in named if not path.is_dir()]


def languages_of_run(path: Path) -> list[str]:
    """The languages a run folder's spec planned (English without one, [] for a dataset)."""
    spec_file = path / names.SPEC
    if not spec_file.is_file():
        return []
    try:
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    conditions = spec.get("conditions") if isinstance(spec, dict) else None
    return planned_languages(conditions if isinstance(conditions, dict) else {})
