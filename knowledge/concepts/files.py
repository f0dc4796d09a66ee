"""Concept-tree files: the format's marks, JSON read with located errors, GraphML values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synthloom.core.errors import ConceptTreeError

FORMAT = "synthloom-concept-tree"
FORMAT_VERSION = 1
PATH_SEPARATOR = " > "


def read_json(path: Path) -> Any:
    """Parse a JSON file, with errors that name the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConceptTreeError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConceptTreeError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConceptTreeError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
        ) from None


def graphml_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Node attributes as GraphML values: lists joined, mappings flattened, paths as text."""
    flat: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if key == "path":
            flat[key] = PATH_SEPARATOR.join(value)
        elif isinstance(value, Mapping):
            flat.update({f"{key}_{k}": v for k, v in value.items() if v is not None})
        elif isinstance(value, list | tuple):
            flat[key] = "; ".join(str(v) for v in value)
        else:
            flat[key] = value
    return flat
