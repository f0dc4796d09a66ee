"""The lean call path answers exactly as langchain's full path does, over real HTTP.

A plain call without callbacks skips langchain's Runnable layers; a call with a
callback handler takes the full path. Both must carry the same content, usage and
`finish_reason` (a cut at `max_tokens` is how a truncated turn is recognised).
"""

from __future__ import annotations

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage

from agents.llm import make_chat_model
from synthloom.spec import ModelSpec
from tests.support.openai_server import ScriptedOpenAIServer


class Watching(AsyncCallbackHandler):
    """Any handler sends a call down the full path."""

    seen = 0

    async def on_chat_model_start(self, *args: object, **kwargs: object) -> None:
        self.seen += 1


async def both_paths(max_tokens: int | None) -> tuple[AIMessage, AIMessage, int]:
    with ScriptedOpenAIServer() as server:
        limit = {} if max_tokens is None else {"max_tokens": max_tokens}
        spec = ModelSpec(provider="openai", base_url=server.base_url, model="m", **limit)
        model = make_chat_model(spec)
        prompt = [HumanMessage("Say something about the weather today.")]
        lean = await model.ainvoke(prompt)
        watcher = Watching()
        full = await model.ainvoke(prompt, config={"callbacks": [watcher]})
    assert isinstance(lean, AIMessage) and isinstance(full, AIMessage)
    return lean, full, watcher.seen


async def test_a_cut_answer_says_so_on_both_paths() -> None:
    lean, full, seen = await both_paths(max_tokens=5)
    assert seen == 1  # the second call really took the full path
    assert lean.response_metadata["finish_reason"] == "length"
    assert full.response_metadata["finish_reason"] == "length"
    assert lean.content == full.content and len(str(lean.content).split()) == 5
    assert lean.usage_metadata == full.usage_metadata


async def test_a_whole_answer_is_the_same_on_both_paths() -> None:
    lean, full, _ = await both_paths(max_tokens=None)
    assert lean.response_metadata["finish_reason"] == full.response_metadata["finish_reason"]
    assert lean.response_metadata["finish_reason"] == "stop"
    assert lean.content == full.content
    # Everything the full path tells about the call, but the completion's own id.
    assert {k: v for k, v in lean.response_metadata.items() if k != "id"} == {
        k: v for k, v in full.response_metadata.items() if k != "id"
    }
