"""A loopback OpenAI-compatible `/v1/embeddings` server backed by the local model.

It lets the `openai` provider be tested end to end over real HTTP: whatever the
client sends is embedded by the real model, so the vectors can be checked for
meaning, not just shape.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from knowledge.embeddings import LocalEmbeddings


class EmbeddingServer:
    """Serves `POST /v1/embeddings` on 127.0.0.1; records the request bodies."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        model = LocalEmbeddings()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                vectors = model.embed_documents([str(t) for t in texts])
                payload = {
                    "object": "list",
                    "model": body.get("model", "local"),
                    "data": [
                        {"object": "embedding", "index": i, "embedding": v}
                        for i, v in enumerate(vectors)
                    ],
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The `/v1` root clients are given."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> EmbeddingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
