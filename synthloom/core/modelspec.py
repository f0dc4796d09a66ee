"""Model endpoints per role: their own module so other blocks (curation judges) can use them."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from synthloom.core.config import StrictModel
from synthloom.core.errors import SpecError
from synthloom.core.redact import remember_secret

EMBEDDED_MODEL = "smollm2-135m"


class EmbeddedServerSpec(StrictModel):
    """Settings of the llama.cpp server synthloom starts for `provider: embedded`."""

    threads: int = Field(default=0, ge=0, description="CPU threads; 0 means all cores.")
    parallel: int = Field(default=4, ge=1, le=64, description="Requests decoded at once.")
    context: int = Field(default=2048, ge=256, description="Context tokens per parallel slot.")
    repeat_penalty: float = Field(
        default=1.15,
        ge=1.0,
        le=2.0,
        description="The server's default penalty on recently used tokens (1.0: none). The "
        "135M model loops and re-types earlier turns without it.",
    )


class ModelSpec(StrictModel):
    """One model role's endpoint and sampling settings."""

    provider: Literal["embedded", "openai"] = Field(
        default="embedded",
        description="`embedded`: a small local model synthloom serves itself; "
        "`openai`: any OpenAI-compatible endpoint at `base_url`.",
    )
    base_url: str | None = Field(
        default=None, description="e.g. http://localhost:8000/v1 (vLLM), none for api.openai.com."
    )
    replicas: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="More servers serving the same `model` as `base_url` (several vLLM "
        "instances, say). Each sample's calls all go to one of them, chosen by the sample's "
        "id: the load spreads, and a server's prefix cache sees the whole dialogue.",
    )
    model: str = EMBEDDED_MODEL
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key."
    )
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    frequency_penalty: float | None = Field(
        default=None, ge=-2.0, le=2.0, description="OpenAI's penalty on tokens already used often."
    )
    presence_penalty: float | None = Field(
        default=None, ge=-2.0, le=2.0, description="OpenAI's penalty on tokens already used."
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Server-specific request fields sent with every call: vLLM's "
        "`repetition_penalty` or `min_p`, llama.cpp's `repeat_penalty`, and so on.",
    )
    max_tokens: int = Field(default=256, ge=1, le=131072)
    timeout: float = Field(default=60.0, gt=0.0, description="Seconds per request.")
    max_retries: int = Field(
        default=4, ge=0, le=20, description="Retries of transient errors (429, 5xx, timeouts)."
    )
    requests_per_second: float | None = Field(default=None, gt=0.0)
    tokens_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="The provider's cap on tokens per minute (prompt + completion, counted "
        "from the usage each answer reports); new requests wait while the last minute's "
        "tokens and those expected in flight would pass it.",
    )
    embedded: EmbeddedServerSpec = EmbeddedServerSpec()

    @model_validator(mode="before")
    @classmethod
    def _price_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "price" in data:
            raise ValueError(
                "`price` is no longer set per role: prices are per model under the spec's "
                "`pricing.models` ({input_per_1m, cached_input_per_1m, output_per_1m})"
            )
        return data

    @model_validator(mode="after")
    def _check_endpoint(self) -> ModelSpec:
        if self.provider == "openai" and self.base_url is None and self.api_key_env is None:
            raise ValueError(
                "provider 'openai' needs `base_url` (a local server) or `api_key_env` "
                "(the hosted API)"
            )
        if self.replicas and (self.provider != "openai" or self.base_url is None):
            raise ValueError("`replicas` are further servers beside `base_url` (provider 'openai')")
        return self

    def endpoints(self, default: str) -> list[str]:
        """Every server of this role: `base_url` (or `default`), then the replicas."""
        return [self.base_url or default, *self.replicas]

    def api_key(self) -> str:
        """The API key from the named environment variable (servers without auth get a dummy)."""
        if self.api_key_env is None:
            return "synthloom-no-key"
        value = os.environ.get(self.api_key_env)
        if not value:
            raise SpecError(
                f"models: environment variable {self.api_key_env} (api_key_env) is not set"
            )
        return remember_secret(value)


ROLES = ("user_simulator", "assistant", "judge")


class ModelsSpec(StrictModel):
    """Per-role models; each role inherits `default` and overrides what it names."""

    default: ModelSpec = ModelSpec()
    user_simulator: ModelSpec = ModelSpec()
    assistant: ModelSpec = ModelSpec()
    judge: ModelSpec = ModelSpec()

    @model_validator(mode="before")
    @classmethod
    def _inherit_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        default = data.get("default") or {}
        if not isinstance(default, dict):
            return data
        merged: dict[str, Any] = {"default": default}
        for key, value in data.items():
            if key == "default":
                continue
            merged[key] = {**default, **value} if isinstance(value, dict) else value
        for role in ROLES:
            merged.setdefault(role, dict(default))
        return merged
