"""The one base of every spec block: unknown keys are errors, values are frozen.

A typo in a spec (`temprature:`) must be a clear error naming the field, not a
silently ignored key; a spec is never changed after it is read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A spec block: extra keys forbidden, instances immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
