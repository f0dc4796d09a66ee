"""The run's checkpointer: LangGraph's SQLite saver answering async calls in the loop's thread."""

from __future__ import annotations

import asyncio
import operator
import sqlite3
from pathlib import Path
from typing import Annotated

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from synthloom.sqlite_saver import LoopSqliteSaver


class Tally(TypedDict):
    seen: Annotated[list[str], operator.add]


def count_graph() -> StateGraph[Tally]:
    builder = StateGraph(Tally)
    builder.add_node("one", lambda state: {"seen": ["one"]})
    builder.add_node("two", lambda state: {"seen": ["two"]})
    builder.add_edge(START, "one")
    builder.add_edge("one", "two")
    builder.add_edge("two", END)
    return builder


async def test_a_checkpoint_it_writes_is_what_langgraphs_async_saver_reads(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    config: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    with LoopSqliteSaver.open(path) as saver:
        graph = count_graph().compile(checkpointer=saver)
        out = await graph.ainvoke({"seen": []}, config, durability="async")
        assert out["seen"] == ["one", "two"]
        steps = [item async for item in saver.alist(config)]
    assert len(steps) == 4  # input, the two nodes, and the loop's first step
    async with AsyncSqliteSaver.from_conn_string(path) as reader:
        saved = await reader.aget_tuple(config)
    assert saved is not None and saved.checkpoint["channel_values"]["seen"] == ["one", "two"]


async def test_listing_while_other_tasks_write_does_not_wait_on_itself(tmp_path: Path) -> None:
    with LoopSqliteSaver.open(str(tmp_path / "c.sqlite")) as saver:
        graph = count_graph().compile(checkpointer=saver)
        await graph.ainvoke({"seen": []}, {"configurable": {"thread_id": "first"}})

        async def listing() -> int:
            found = 0
            async for _ in saver.alist(None):
                found += 1
                await asyncio.sleep(0)  # another task writes in between
            return found

        async def writing() -> None:
            await graph.ainvoke({"seen": []}, {"configurable": {"thread_id": "second"}})

        listed, _ = await asyncio.wait_for(asyncio.gather(listing(), writing()), timeout=10)
        assert listed >= 4
        await saver.adelete_thread("first")
        assert [i async for i in saver.alist({"configurable": {"thread_id": "first"}})] == []
        assert await saver.aget_tuple({"configurable": {"thread_id": "second"}}) is not None


def test_it_runs_in_wal_mode_without_a_flush_per_commit(tmp_path: Path) -> None:
    with LoopSqliteSaver.open(str(tmp_path / "c.sqlite")) as saver:
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert saver.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


async def test_writes_of_one_turn_of_the_loop_share_one_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    commits: list[str] = []
    with LoopSqliteSaver.open(path) as saver:
        saver.conn.set_trace_callback(
            lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
        )
        graph = count_graph().compile(checkpointer=saver)
        threads = [f"t{i}" for i in range(16)]
        await asyncio.gather(
            *(graph.ainvoke({"seen": []}, {"configurable": {"thread_id": t}}) for t in threads)
        )
        await asyncio.sleep(0)  # the turn in which the last commit runs
        writes = sum(1 for _ in saver.list(None))
        # Another connection sees every checkpoint: all of it was committed.
        reader = sqlite3.connect(path)
        seen = reader.execute("SELECT COUNT(DISTINCT thread_id) FROM checkpoints").fetchone()[0]
        reader.close()
    assert seen == len(threads) and writes == 4 * len(threads)
    assert 0 < len(commits) < writes / 2  # 16 dialogues' steps, a few commits


async def test_what_was_written_is_committed_when_the_run_fails(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    try:
        with LoopSqliteSaver.open(path) as saver:
            graph = count_graph().compile(checkpointer=saver)
            await graph.ainvoke({"seen": []}, {"configurable": {"thread_id": "t"}})
            raise RuntimeError("the run stops here")
    except RuntimeError:
        pass
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 4
    reader.close()
