"""The chat models of a run's roles, with the embedded server started where needed.

Before anything is written, each distinct endpoint is checked once: an
unreachable server or a rejected key is one clear message naming the role and
the URL, not a stack of retries deep inside a sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import httpx
from langchain_core.language_models import BaseChatModel

from agents.embedded import EmbeddedServers
from agents.flow import ConcurrencySpec, FlowSettings, Traffic
from agents.llm import OPENAI_BASE_URL, make_role_model, tls_context
from synthloom.core.errors import EndpointError
from synthloom.core.modelspec import ModelSpec, ModelsSpec

PREFLIGHT_TIMEOUT_S = 10.0


def check_endpoint(role: str, base_url: str, api_key: str) -> None:
    """Fail fast, with the role and URL, if the endpoint is down or refuses the key."""
    url = base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(
            url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=PREFLIGHT_TIMEOUT_S,
            verify=tls_context(),
        )
    except httpx.TimeoutException:
        raise EndpointError(
            f"models.{role}: endpoint {base_url} did not answer within {PREFLIGHT_TIMEOUT_S:.0f}s"
        ) from None
    except httpx.HTTPError as exc:
        raise EndpointError(
            f"models.{role}: endpoint {base_url} is unreachable ({type(exc).__name__}: {exc}); "
            "is the server running and is `base_url` right?"
        ) from None
    if response.status_code in (401, 403):
        raise EndpointError(
            f"models.{role}: endpoint {base_url} rejected the API key (HTTP "
            f"{response.status_code}); check `api_key_env`"
        )
    # Other statuses (404 for servers without /models, 5xx) are left to the run's retries.


class ModelFactory:
    """Builds role models, starting embedded servers and checking each endpoint once."""

    def __init__(self, servers: EmbeddedServers, traffic: Traffic | None = None) -> None:
        self.servers = servers
        self.checked: set[str] = set()
        self.traffic = traffic or Traffic()
        """One flow per endpoint URL, shared by every role this factory builds, and a meter."""

    def build(self, role: str, spec: ModelSpec) -> BaseChatModel:
        """The role's chat model (a pool over its replicas, if it has any)."""
        if spec.provider == "embedded":
            return make_role_model(spec, self.servers.base_url_for(spec), self.traffic)
        urls = spec.endpoints(OPENAI_BASE_URL)
        for url in urls:
            if url not in self.checked:
                check_endpoint(role, url, spec.api_key())
                self.checked.add(url)
        return make_role_model(spec, urls[0], self.traffic)


class HasModels(Protocol):
    """Anything that names its models: a run spec, or a spec of models alone."""

    @property
    def models(self) -> ModelsSpec:
        """The model per role."""
        ...


def flow_settings_of(spec: object) -> FlowSettings:
    """A run spec's `concurrency` as flow settings (the default `auto` for specs without one)."""
    concurrency = getattr(spec, "concurrency", None)
    if isinstance(concurrency, ConcurrencySpec):
        return concurrency.settings()
    return ConcurrencySpec().settings()


@contextmanager
def open_models(
    spec: HasModels, roles: tuple[str, ...], log_dir: Path | None = None
) -> Iterator[dict[str, BaseChatModel]]:
    """Chat models for `roles`, valid inside the block (embedded servers stop after it)."""
    servers = EmbeddedServers(log_dir)
    try:
        factory = ModelFactory(servers, Traffic(flow_settings_of(spec)))
        yield {role: factory.build(role, getattr(spec.models, role)) for role in roles}
    finally:
        servers.close()
