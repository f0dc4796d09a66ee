"""One role served by several OpenAI-compatible servers (e.g. vLLM replicas).

Each call goes to the server picked by the LangGraph thread it runs in — the
sample's id — so every call of one dialogue lands on the same server (its
prefix cache sees the conversation grow) while samples spread over all of them.
Calls outside a graph (curation judges) take the servers in turn.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr


class EndpointPool(BaseChatModel):
    """A chat model that hands each call to one of `models`, sticky per sample."""

    models: list[BaseChatModel]
    model_name: str
    _turns: Iterator[int] = PrivateAttr(default_factory=itertools.count)

    @property
    def _llm_type(self) -> str:
        return "endpoint-pool"

    def route(self, thread_id: str | None) -> BaseChatModel:
        """The server for a sample (stable across runs and resumes), or the next in turn."""
        if thread_id:
            index = zlib.crc32(thread_id.encode()) % len(self.models)
        else:
            index = next(self._turns) % len(self.models)
        return self.models[index]

    def _chosen(self, run_manager: Any) -> BaseChatModel:
        metadata = getattr(run_manager, "metadata", None) or {}
        thread = metadata.get("thread_id")
        return self.route(str(thread) if thread is not None else None)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        model = self._chosen(run_manager)
        return model._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        model = self._chosen(run_manager)
        return await model._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
