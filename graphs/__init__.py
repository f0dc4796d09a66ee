"""LangGraph state machines: one file per graph with its typed state."""
