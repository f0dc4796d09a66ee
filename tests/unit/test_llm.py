"""The model factory's settings and the classification of endpoint errors."""

from __future__ import annotations

import httpx
import httpx2
import openai
import pytest

from agents.llm import classify_error, describe_error, make_chat_model, traffic_of
from synthloom.spec import ModelSpec

REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def status_error(code: int) -> openai.APIStatusError:
    response = httpx2.Response(code, request=REQUEST, json={"error": {"message": f"m{code}"}})
    return openai.APIStatusError(f"m{code}", response=response, body={"message": f"m{code}"})


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (400, "sample"),
        (413, "sample"),
        (401, "fatal"),
        (404, "fatal"),
        (429, "transient"),
        (500, "transient"),
        (503, "transient"),
    ],
)
def test_status_codes_are_classified(code: int, kind: str) -> None:
    assert classify_error(status_error(code)) == kind


def test_connection_and_timeout_are_transient() -> None:
    assert classify_error(openai.APIConnectionError(request=REQUEST)) == "transient"
    assert classify_error(openai.APITimeoutError(request=REQUEST)) == "transient"
    assert classify_error(ValueError("bug")) == "sample"
    # Raw transport errors of either HTTP stack (openai moved to httpx2) are transient.
    assert classify_error(httpx.ConnectError("refused")) == "transient"
    assert classify_error(httpx2.ReadError("reset")) == "transient"


def test_descriptions_name_status_and_url() -> None:
    text = describe_error(status_error(400))
    assert "HTTP 400" in text and "127.0.0.1:9" in text and "m400" in text


def test_factory_applies_the_spec() -> None:
    spec = ModelSpec(
        provider="openai",
        base_url="http://127.0.0.1:9/v1",
        model="m",
        temperature=0.2,
        max_tokens=77,
        timeout=3.5,
        max_retries=6,
        requests_per_second=4,
    )
    model = make_chat_model(spec)
    assert model.model_name == "m"
    assert model.max_tokens == 77
    assert model.request_timeout == 3.5
    assert model.max_retries == 6
    traffic = traffic_of(model)
    assert traffic is not None
    # The rate limit belongs to the endpoint's flow, shared by every role on that server.
    assert traffic.flow("http://127.0.0.1:9/v1").settings.requests_per_second == 4
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
