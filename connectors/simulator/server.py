"""The threaded HTTP server: routing, faults, the request log, `start_in_thread`."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import control, oauth, webex, zoom
from .home import home_page
from .http import Request, Response, webex_error, zoom_error
from .knobs import FaultRule, Knobs
from .state import LoggedRequest, SimulatorState, fingerprint

SECRET_PARAMS = {"access_token", "refresh_token", "token", "client_secret", "code", "code_verifier"}
MAX_BODY = 1 << 20


def dispatch(state: SimulatorState, req: Request) -> Response:
    """Route one request; provider requests pass through faults and into the log."""
    if req.path.startswith("/_sim/"):
        return control.handle(state, req, req.path[len("/_sim") :])
    if req.path == "/" and req.method == "GET":
        return home_page(req)
    provider = req.path.split("/")[1] if req.path.count("/") >= 1 else ""
    if provider not in {"webex", "zoom"}:
        return Response.json(404, {"error": "not found"})
    response = _with_faults(state, provider, req)
    token = req.bearer()
    state.record(
        LoggedRequest(
            provider=provider,
            method=req.method,
            path=req.path,
            query={
                k: (["[redacted]"] * len(v) if k in SECRET_PARAMS else list(v))
                for k, v in req.query.items()
            },
            status=response.status,
            token_fingerprint=fingerprint(token) if token else None,
        )
    )
    return response


def _with_faults(state: SimulatorState, provider: str, req: Request) -> Response:
    if state.knobs.latency:
        state.wake.wait(state.knobs.latency)
    rule = state.take_fault(provider, req.method, req.path)
    if rule is not None:
        scripted = _scripted(state, provider, rule)
        if scripted is not None:
            return scripted
    drawn = state.random_fault(provider)
    if drawn == "slow":
        state.wake.wait(state.knobs.slow_seconds)
    elif drawn is not None:
        return _random(provider, drawn)
    return _route(state, provider, req)


def _scripted(state: SimulatorState, provider: str, rule: FaultRule) -> Response | None:
    if rule.delay:
        state.wake.wait(rule.delay)
    if rule.kind == "slow":
        return None
    if rule.kind in {"bad_json", "html"}:
        return _random(provider, rule.kind, rule.status if rule.status != 500 else 200)
    if rule.body is None:
        response = _provider_error(provider, rule.status)
    elif isinstance(rule.body, str):
        response = Response(rule.status, rule.body.encode(), {"Content-Type": "text/plain"})
    else:
        response = Response.json(rule.status, rule.body)
    response.headers.update(rule.headers)
    return response


def _provider_error(provider: str, status: int) -> Response:
    if provider == "webex":
        return webex_error(status, "Simulated failure.")
    return zoom_error(status, status, "Simulated failure.")


def _random(provider: str, kind: str, status: int = 200) -> Response:
    if kind == "429":
        if provider == "webex":
            return webex_error(429, "Too Many Requests", {"Retry-After": "1"})
        return zoom_error(
            429,
            429,
            "You have reached the maximum per-second rate limit for this API. Try again later.",
        )
    if kind == "5xx":
        return _provider_error(provider, 503)
    if kind == "bad_json":
        return Response(status, b'{"items": [{"id": "truncat', {"Content-Type": "application/json"})
    if kind == "wrong_shape":
        return Response(
            status, b'[{"id": "not-an-object-body"}]', {"Content-Type": "application/json"}
        )
    return Response.html(
        status if status != 200 else 502, "<html><body><h1>502 Bad Gateway</h1></body></html>"
    )


def _route(state: SimulatorState, provider: str, req: Request) -> Response:
    path = req.path
    if provider == "webex":
        if path == "/webex/v1/authorize" and req.method == "GET":
            return oauth.authorize(state, "webex", req)
        if path == "/webex/v1/access_token" and req.method == "POST":
            return oauth.webex_token(state, req)
        if path.startswith("/webex/v1/"):
            return webex.handle(state, req, path[len("/webex/v1") :])
        return webex_error(404, "The requested resource could not be found.")
    if path == "/zoom/oauth/authorize" and req.method == "GET":
        return oauth.authorize(state, "zoom", req)
    if path == "/zoom/oauth/token" and req.method == "POST":
        return oauth.zoom_token(state, req)
    if path == "/zoom/oauth/revoke" and req.method == "POST":
        return oauth.zoom_revoke(state, req)
    if path.startswith("/zoom/v2/"):
        return zoom.handle(state, req, path[len("/zoom/v2") :])
    return zoom_error(404, 404, "Not Found")


class _Handler(BaseHTTPRequestHandler):
    server_version = "SimulatorHTTP/1.0"
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body leave in one write (no Nagle/delayed-ACK stalls)
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        req = Request(
            method=self.command,
            path=unquote(parts.path) or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )
        state: SimulatorState = self.server.state  # type: ignore[attr-defined]
        try:
            response = dispatch(state, req)
        except Exception:  # an unexpected bug must not hang the client
            response = Response.json(500, {"error": "simulator internal error"})
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: URLs may carry codes; the request log is the record."""


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops SYNs under load: 1 s client stalls

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (read timeout on a slow fault) is normal, not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SimulatorHandle:
    """A running simulator: `.base_url`, `.state`, `.stop()`."""

    def __init__(self, server: SimulatorServer, thread: threading.Thread) -> None:
        self.server, self.thread, self.state = server, thread, server.state
        host, port = server.server_address[:2]
        self.host, self.port = host, port
        self.base_url = f"http://{host}:{port}"
        self.webex_base_url = f"{self.base_url}/webex/v1"
        self.zoom_oauth_base_url = f"{self.base_url}/zoom"
        self.zoom_api_base_url = f"{self.base_url}/zoom/v2"

    def stop(self) -> None:
        self.state.wake.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_in_thread(
    port: int = 0,
    host: str = "127.0.0.1",
    knobs: Knobs | None = None,
    state: SimulatorState | None = None,
) -> SimulatorHandle:
    """Start a simulator on a daemon thread (port 0 = a free port) and return its handle."""
    state = state or SimulatorState(knobs)
    server = SimulatorServer((host, port), state)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="api-simulator",
        daemon=True,
    )
    thread.start()
    return SimulatorHandle(server, thread)


def serve_forever(port: int, host: str = "127.0.0.1", knobs: Knobs | None = None) -> None:
    """Serve in the foreground until KeyboardInterrupt (used by the management command)."""
    handle = start_in_thread(port, host, knobs)
    try:
        while handle.thread.is_alive():
            time.sleep(0.5)
    finally:
        handle.stop()
