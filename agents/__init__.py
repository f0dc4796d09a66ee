"""The LLM-backed roles that graph nodes call, and the chat-model factory."""
