"""Prompt templates as files: one Jinja2 file per role, rendered in a sandbox.

Each file opens with a Jinja comment holding YAML front matter that lists the
variables it takes with a sample value for each, so a template documents itself
and can be previewed (`synthloom prompts show ROLE`) without a run.
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
    body = text[match.end() :]
    used = meta.find_undeclared_variables(_environment().parse(body))
    undeclared = used - variables.keys()
    if undeclared:
        raise PromptError(f"prompt {name!r}: uses undeclared variables {sorted(undeclared)}")
    return PromptTemplate(name=name, source=body, variables=variables)


@cache
def load_prompt(name: str, directory: str | None = None) -> PromptTemplate:
    """Load `NAME.jinja2` from `directory`, or from the packaged prompts."""
    filename = f"{name}.jinja2"
    if directory is not None:
        path = Path(directory) / filename
        if not path.is_file():
            raise PromptError(f"prompt file not found: {path}")
        return parse_template(name, path.read_text(encoding="utf-8"))
    resource = resources.files(__name__).joinpath(filename)
    if not resource.is_file():
        raise PromptError(f"no packaged prompt named {name!r}")
    return parse_template(name, resource.read_text(encoding="utf-8"))


def available_prompts() -> list[str]:
    """Names of the packaged prompt templates."""
    return sorted(
        p.name.removesuffix(".jinja2")
        for p in resources.files(__name__).iterdir()
        if p.name.endswith(".jinja2")
    )
