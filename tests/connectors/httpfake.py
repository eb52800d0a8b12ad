"""A scripted HTTP server on 127.0.0.1 for the client tests: real sockets, no network.

Each (method, path) has a queue of ``Reply`` objects served in order; the last one
repeats. Every request is recorded with its query, headers and body so tests can
assert what the client really sent.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # hold the response until the server closes (read timeouts)


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


class ScriptedServer:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], deque[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self.release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def script(self, method: str, path: str, *replies: Reply) -> None:
        with self._lock:
            self._routes[(method.upper(), path)] = deque(replies)

    def hits(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_reply(self, method: str, path: str) -> Reply:
        with self._lock:
            queue = self._routes.get((method, path))
            if not queue:
                return Reply(404, json={"message": "no script"})
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.requests.append(
                        Seen(
                            self.command,
                            parts.path,
                            parse_qsl(parts.query, keep_blank_values=True),
                            dict(self.headers.items()),
                            body,
                        )
                    )
                reply = server._next_reply(self.command, parts.path)
                if reply.hang:
                    server.release.wait(10)
                    return
                if reply.json is not None:
                    payload = json.dumps(reply.json).encode()
                    ctype = "application/json"
                else:
                    raw = reply.body or b""
                    payload = raw.encode() if isinstance(raw, str) else raw
                    ctype = "text/html"
                self.send_response(reply.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value.replace("{base}", server.base_url))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve
            do_DELETE = _serve

        return Handler
