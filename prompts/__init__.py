"""Prompt templates as files: one Jinja2 file per role, rendered in a sandbox.

Each file opens with a Jinja comment holding YAML front matter that lists the
variables it takes with a sample value for each, so a template documents itself
and can be previewed (`synthloom prompts show ROLE`) without a run.

Files are looked up one at a time, so an override folder holds only the prompts it
changes: a language's own file (`ko/assistant.jinja2`) first, in the override folder
then among the packaged ones, then the English file with an explicit instruction to
write in the sample's language (`PromptSource`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from synthloom.core.errors import PromptError

_FRONT_MATTER = re.compile(r"\A\{#-?\s*\n(?P<yaml>.*?)\n\s*-?#\}\n?", re.DOTALL)


@dataclass(frozen=True)
class PromptTemplate:
    """A role's template with the variables it declares and sample values for them."""

    name: str
    source: str
    variables: dict[str, Any] = field(default_factory=dict)
    language: str = "en"
    """The language the file is written in (front matter `language:`, English if absent)."""

    def render(self, **values: Any) -> str:
        """Render with exactly the declared variables; a missing or extra one is a bug."""
        missing = self.variables.keys() - values.keys()
        extra = values.keys() - self.variables.keys()
        if missing or extra:
            raise PromptError(
                f"prompt {self.name!r}: missing {sorted(missing)} / undeclared {sorted(extra)}"
            )
        try:
            return _compiled(self.source).render(**values).strip()
        except TemplateError as exc:
            raise PromptError(f"prompt {self.name!r}: {exc}") from exc

    def sample_render(self) -> str:
        """Render with the sample values from the front matter, for previews."""
        return self.render(**self.variables)


@cache
def _environment() -> ImmutableSandboxedEnvironment:
    # Retrieved text and model output arrive as variables, never as template source,
    # and the sandbox keeps a hostile variable from reaching Python internals.
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False
    )


@cache
def _compiled(source: str) -> Template:
    # Compiling is ~100x the cost of rendering; a run renders the same few sources
    # thousands of times.
    return _environment().from_string(source)


def parse_template(name: str, text: str) -> PromptTemplate:
    """Split front matter from body and check the body uses only declared variables."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise PromptError(f"prompt {name!r}: missing the '{{# variables: ... #}}' front matter")
    try:
        header = yaml.safe_load(match.group("yaml")) or {}
    except yaml.YAMLError as exc:
        raise PromptError(f"prompt {name!r}: invalid front matter YAML: {exc}") from None
    variables = header.get("variables") or {}
    if not isinstance(variables, dict):
        raise PromptError(f"prompt {name!r}: 'variables' must map names to sample values")
    language = str(header.get("language") or "en").lower()
    body = text[match.end() :]
    used = meta.find_undeclared_variables(_environment().parse(body))
    undeclared = used - variables.keys()
    if undeclared:
        raise PromptError(f"prompt {name!r}: uses undeclared variables {sorted(undeclared)}")
    return PromptTemplate(name=name, source=body, variables=variables, language=language)


@cache
def load_prompt(
    name: str, directory: str | None = None, *, language: str | None = None
) -> PromptTemplate:
    """`NAME.jinja2` for `language`: the override folder's file, else the packaged one.

    A folder that does not exist is an error (a typo would silently use the packaged
    prompts); a file it lacks falls back to the packaged file of that name.
    """
    if directory is not None and not Path(directory).is_dir():
        raise PromptError(f"prompt folder not found: {directory}")
    found = PromptSource(directory).find(name, language) if language else None
    if found is not None:
        return found
    if directory is not None:
        path = Path(directory) / f"{name}.jinja2"
        if path.is_file():
            return parse_template(name, path.read_text(encoding="utf-8"))
    return _packaged(name)


def _packaged(name: str, language: str | None = None) -> PromptTemplate:
    folder = resources.files(__name__)
    if language:
        folder = folder.joinpath(language)
    resource = folder.joinpath(f"{name}.jinja2")
    if not resource.is_file():
        raise PromptError(f"no packaged prompt named {name!r}")
    return parse_template(name, resource.read_text(encoding="utf-8"))


# English names of languages, for the instruction added to an English prompt file.
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "hi": "Hindi", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish",
    "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


def language_name(code: str) -> str:
    """`Korean` for `ko`; an unlisted code is named as itself."""
    return LANGUAGE_NAMES.get(code.lower(), code)


def language_instruction(code: str) -> str:
    """What an English prompt adds for a sample in another language."""
    name = language_name(code)
    return (
        f"Language: write everything you write (every message, step and answer text) in "
        f"{name}, as a native {name} speaker would; keep JSON field names as given."
    )


@dataclass(frozen=True)
class PromptSource:
    """Where a run's prompt files come from: an override folder and per-language folders.

    `languages` maps a language code to a folder of that language's files; without
    one, `DIRECTORY/CODE/` and then the packaged `prompts/CODE/` are looked in.
    """

    directory: str | None = None
    languages: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls, directory: str | Path | None = None, languages: dict[str, Path] | None = None
    ) -> PromptSource:
        """A source from spec values (paths become strings so the source hashes)."""
        pairs = tuple(sorted((k.lower(), str(v)) for k, v in (languages or {}).items()))
        return cls(str(directory) if directory is not None else None, pairs)

    def find(self, name: str, language: str | None) -> PromptTemplate | None:
        """The file written for `language` (None for English or when none is shipped)."""
        if not language or language.lower() == "en":
            return None
        return _find(self, name, language.lower())

    def load(self, name: str, language: str | None = None) -> PromptTemplate:
        """The template for `name` in `language`, falling back file by file."""
        return self.find(name, language) or load_prompt(name, self.directory)


@cache
def _find(source: PromptSource, name: str, code: str) -> PromptTemplate | None:
    # Roles ask once per turn; parsing a file is far dearer than rendering it.
    folders = [folder for lang, folder in source.languages if lang == code]
    if source.directory is not None:
        folders.append(str(Path(source.directory) / code))
    for folder in folders:
        path = Path(folder) / f"{name}.jinja2"
        if path.is_file():
            return _with_language(parse_template(name, path.read_text("utf-8")), code)
    try:
        return _with_language(_packaged(name, code), code)
    except PromptError:
        return None


def _with_language(template: PromptTemplate, code: str) -> PromptTemplate:
    # A file found in a language's folder is written in it, whatever its front matter says.
    if template.language == code:
        return template
    return PromptTemplate(template.name, template.source, template.variables, code)


def shipped_languages() -> list[str]:
    """Languages with packaged prompt folders (besides English)."""
    return sorted(
        p.name for p in resources.files(__name__).iterdir() if p.is_dir() and p.name.isalpha()
    )


def available_prompts() -> list[str]:
    """Names of the packaged prompt templates."""
    return sorted(
        p.name.removesuffix(".jinja2")
        for p in resources.files(__name__).iterdir()
        if p.name.endswith(".jinja2")
    )
