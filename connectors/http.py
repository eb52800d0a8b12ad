"""The one HTTP client for every provider call; the only module that imports ``requests``.

Every call goes through ``ApiClient._request``: bearer header, (connect, read)
timeouts, the shared rate budget, retries with full-jitter exponential backoff on
429/5xx/timeouts/connection errors (honouring ``Retry-After``), one token refresh
after a 401, one log line per attempt, and errors mapped onto
``connectors.exceptions``. All waiting goes through ``connectors.clock``.

Pagination yields ``Page(items, next_cursor)``. ``next_cursor`` is where to resume
(a Link URL for Webex, a ``next_page_token`` for Zoom): persist it after storing a
page's items and pass it back as ``start_cursor`` with the same ``params`` to go
on. When iteration ends, the last page's ``next_cursor`` is ``None`` if the listing
is complete, or the resume point if ``max_pages`` stopped it.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings

from connectors import clock
from connectors.exceptions import (
    ApiError,
    MalformedResponse,
    RateLimited,
    Transient,
    safe_path,
)
from connectors.ratelimit import BudgetWaitTooLong, RateBudget, parse_retry_after

logger = logging.getLogger("connectors.http")


def _drop_debug(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


# urllib3 logs every request line, query string included, at DEBUG: drop those so a
# DEBUG log level cannot leak emails or tokens from query strings.
logging.getLogger("urllib3.connectionpool").addFilter(_drop_debug)

# Full jitter: wait = uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2**(attempt-1))).
# Tests seed or patch ``jitter`` for deterministic waits.
jitter = random.Random()  # noqa: S311 (jitter, not security)
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
DEFAULT_MAX_PAGES = 1000
TOKEN_MAX_ATTEMPTS = 3
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

Params = Mapping[str, Any] | None


class TokenSource(Protocol):
    """Where the client gets bearer tokens (a Connection's tokens, refreshed under a lock)."""

    def access_token(self) -> str:
        """A current access token."""
        ...

    def refreshed_token(self, stale: str) -> str:
        """A new token after ``stale`` got a 401; raises ``GrantRevoked`` if refused."""
        ...


class ApiResponse:
    """A successful response: status, headers and the JSON object body on demand."""

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        provider: str,
        method: str,
        path: str,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self._context = {"provider": provider, "method": method, "path": path}
        self._body: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; anything else raises ``MalformedResponse``."""
        if self._body is not None:
            return self._body
        if self.status == 204 or (not self.content.strip() and self.status == 202):
            return {}
        try:
            body = jsonlib.loads(self.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise MalformedResponse(status=self.status, **self._context)
        self._body = body
        return body

    def __repr__(self) -> str:
        return f"ApiResponse(status={self.status}, path={self._context['path']})"


@dataclass(frozen=True)
class Page:
    """One page of a listing and the cursor to persist for resuming after it."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class ApiClient:
    """HTTP for one provider connection: tokens, timeouts, retries, pagination, limits."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        token_source: TokenSource | None = None,
        budget: RateBudget | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
        max_retry_wait: float | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.token_source = token_source
        self.budget = budget
        self.timeout = (
            connect_timeout if connect_timeout is not None else settings.HTTP_CONNECT_TIMEOUT,
            read_timeout if read_timeout is not None else settings.HTTP_READ_TIMEOUT,
        )
        self.max_attempts = max(1, max_attempts or settings.HTTP_MAX_ATTEMPTS)
        # HTTP attempts made through this client (progress shows "API calls").
        self.call_count = 0
        # clock.monotonic() after which no retry or budget wait may end: a task sets it
        # so it stops (RateLimited/Transient with retry_after) before its time limit.
        self.deadline: float | None = None
        self._count_lock = threading.Lock()
        self.max_retry_wait = (
            max_retry_wait if max_retry_wait is not None else settings.HTTP_MAX_RETRY_WAIT
        )
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build_url(self, path_or_url: str) -> str:
        """Join a path to ``base_url``; absolute URLs (e.g. downloads) are used as given,
        and get the bearer token too, so pass only URLs the provider gave us."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def get(
        self, path_or_url: str, *, params: Params = None, category: str = "default"
    ) -> ApiResponse:
        return self._request("GET", path_or_url, params=params, category=category)

    def post(
        self,
        path_or_url: str,
        *,
        params: Params = None,
        json: Any = None,
        category: str = "default",
        idempotent: bool = False,
    ) -> ApiResponse:
        """POST; pass ``idempotent=True`` for read-only queries so 5xx are retried too."""
        return self._request(
            "POST", path_or_url, params=params, json=json, category=category, idempotent=idempotent
        )

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        category: str = "default",
        idempotent: bool | None = None,
        basic_auth: tuple[str, str] | None = None,
        oauth_errors: bool = False,
    ) -> ApiResponse:
        method = method.upper()
        url = self.build_url(path_or_url)
        path = safe_path(url)
        retry_unsafe = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        token = self.token_source.access_token() if self.token_source else None
        refreshed = False
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            with self._count_lock:
                self.call_count += 1
            if self.budget is not None:
                try:
                    waited += self.budget.acquire(category, max_wait=self._wait_allowance(waited))
                except BudgetWaitTooLong as exc:
                    raise RateLimited(
                        provider=self.provider,
                        method=method,
                        path=path,
                        code="rate_limited",
                        retry_after=exc.retry_after,
                    ) from None
            headers = {"Accept": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            started = clock.monotonic()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    auth=basic_auth,
                    timeout=self.timeout,
                )
                failure = None
            except requests.RequestException as exc:
                failure = exc
            if failure is not None:
                # Handled outside the except block so the requests exception, whose
                # text holds the full URL and query, is never chained onto ours.
                code = "timeout" if isinstance(failure, requests.Timeout) else "connection_error"
                if not isinstance(failure, _TRANSPORT_ERRORS):
                    code = "request_error"  # e.g. an invalid URL: retrying cannot help
                self._log(method, path, code, started, attempt)
                if code == "request_error":
                    raise ApiError(provider=self.provider, method=method, path=path, code=code)
                error = Transient(provider=self.provider, method=method, path=path, code=code)
                never_sent = isinstance(failure, requests.ConnectTimeout)
                waited = self._wait_or_raise(
                    error, attempt, waited, self._backoff(attempt), retry_unsafe or never_sent
                )
                continue
            status = response.status_code
            self._log(method, path, status, started, attempt)
            if self.budget is not None:
                self.budget.observe(category, status, response.headers)
            if status < 400:
                return ApiResponse(
                    status=status,
                    headers=response.headers,
                    content=response.content,
                    provider=self.provider,
                    method=method,
                    path=path,
                )
            if status == 401 and token and not refreshed:
                refreshed = True
                token = self.token_source.refreshed_token(token)
                continue
            retry_after = parse_retry_after(response.headers.get("Retry-After"), clock.now())
            if oauth_errors and status in (400, 401):
                raise ApiError.from_oauth_response(
                    provider=self.provider,
                    method=method,
                    path=path,
                    status=status,
                    content=response.content,
                )
            error = ApiError.from_response(
                provider=self.provider,
                method=method,
                path=path,
                status=status,
                headers=response.headers,
                content=response.content,
                retry_after=retry_after,
            )
            if status == 429 or status >= 500:
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                waited = self._wait_or_raise(
                    error, attempt, waited, wait, retry_unsafe or status == 429
                )
                continue
            raise error

    def _wait_or_raise(
        self, error: ApiError, attempt: int, waited: float, wait: float, retryable: bool
    ) -> float:
        """Sleep before the next attempt, or raise when attempts or the wait cap run out."""
        if not retryable or attempt >= self.max_attempts or wait > self._wait_allowance(waited):
            error.retry_after = wait
            raise error
        clock.sleep(wait)
        return waited + wait

    def _wait_allowance(self, waited: float) -> float:
        """How much longer this call may wait: the retry cap, and the deadline if set."""
        allowance = self.max_retry_wait - waited
        if self.deadline is not None:
            allowance = min(allowance, self.deadline - clock.monotonic())
        return max(allowance, 0.0)

    @staticmethod
    def _backoff(attempt: int) -> float:
        return jitter.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1)))

    def _log(self, method: str, path: str, status: int | str, started: float, attempt: int) -> None:
        duration_ms = int((clock.monotonic() - started) * 1000)
        logger.info(
            "provider=%s method=%s path=%s status=%s duration_ms=%d attempt=%d",
            self.provider,
            method,
            path,
            status,
            duration_ms,
            attempt,
            extra={
                "http_provider": self.provider,
                "http_method": method,
                "http_path": path,
                "http_status": status,
                "http_duration_ms": duration_ms,
                "http_attempt": attempt,
            },
        )

    # --- pagination ------------------------------------------------------------------

    def paginate_link(
        self,
        path: str,
        *,
        params: Params = None,
        items_key: str = "items",
        max_pages: int = DEFAULT_MAX_PAGES,
        start_cursor: str | None = None,
        category: str = "default",
    ) -> Iterator[Page]:
        """Follow ``Link: <...>; rel="next"`` (Webex), guarding its known defects.

        The next URL is followed as given, except that ``max=null`` is removed and
        original ``params`` it dropped are added back. Stops at a repeated URL, at
        ``max_pages``, or when no next link remains; a next link to another host
        raises ``MalformedResponse``.
        """
        original = {k: v for k, v in (params or {}).items() if v is not None}
        if start_cursor:
            url, query = self._checked_next_url(start_cursor, original, path), None
        else:
            url, query = self.build_url(path), original
        seen: set[str] = set()
        pages = 0
        while True:
            seen.add(_canonical(url, query))
            response = self.get(url, params=query, category=category)
            items = self._items(response, items_key)
            pages += 1
            next_url = self._next_link(response, original, path)
            if next_url and _canonical(next_url, None) in seen:
                logger.warning(
                    "provider=%s path=%s pagination loop stopped", self.provider, safe_path(url)
                )
                next_url = None
            yield Page(items, next_url)
            if not next_url:
                return
            if pages >= max_pages:
                logger.warning(
                    "provider=%s path=%s stopped at max_pages=%d",
                    self.provider,
                    safe_path(url),
                    max_pages,
                )
                return
            url, query = next_url, None

    def paginate_token(
        self,
        path: str,
        *,
        params: Params = None,
        items_key: str,
        page_size: int = 300,
        max_pages: int = DEFAULT_MAX_PAGES,
        start_cursor: str | None = None,
        category: str = "default",
    ) -> Iterator[Page]:
        """Follow Zoom's ``next_page_token`` until it is empty, repeats or ``max_pages``."""
        token = start_cursor or None
        seen: set[str] = {token} if token else set()
        pages = 0
        while True:
            query = {**(params or {}), "page_size": page_size}
            if token:
                query["next_page_token"] = token
            response = self.get(path, params=query, category=category)
            items = self._items(response, items_key)
            pages += 1
            raw = response.json().get("next_page_token")
            next_token = raw if isinstance(raw, str) and raw else None
            if next_token and next_token in seen:
                logger.warning(
                    "provider=%s path=%s repeated page token stopped",
                    self.provider,
                    safe_path(path),
                )
                next_token = None
            yield Page(items, next_token)
            if not next_token:
                return
            if pages >= max_pages:
                logger.warning(
                    "provider=%s path=%s stopped at max_pages=%d",
                    self.provider,
                    safe_path(path),
                    max_pages,
                )
                return
            seen.add(next_token)
            token = next_token

    def _items(self, response: ApiResponse, items_key: str) -> list[dict[str, Any]]:
        """The page's list; absent or null means empty, anything but objects is malformed."""
        items = response.json().get(items_key)
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise MalformedResponse(
                provider=self.provider,
                method="GET",
                path=response._context["path"],
                status=response.status,
            )
        return items

    def _next_link(
        self, response: ApiResponse, original: Mapping[str, Any], path: str
    ) -> str | None:
        header = response.headers.get("Link")
        if not header:
            return None
        for link in requests.utils.parse_header_links(header):
            if "next" in (link.get("rel") or "").split() and link.get("url"):
                return self._checked_next_url(link["url"], original, path)
        return None

    def _checked_next_url(self, next_url: str, original: Mapping[str, Any], path: str) -> str:
        """Fix Webex's next URL and refuse to send the token to another host."""
        absolute = self.build_url(next_url)
        base, target = urlsplit(self.base_url), urlsplit(absolute)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise MalformedResponse(
                provider=self.provider, method="GET", path=path, code="foreign_next_link"
            )
        query = [
            (k, v)
            for k, v in parse_qsl(target.query, keep_blank_values=True)
            if not (k == "max" and v in ("null", ""))
        ]
        present = {k for k, _ in query}
        for key, value in original.items():
            if key not in present:
                values = value if isinstance(value, list | tuple) else [value]
                query.extend((key, str(v)) for v in values)
        return urlunsplit(target._replace(query=urlencode(query)))


def _canonical(url: str, params: Params) -> str:
    """A URL with its query (plus ``params``) sorted, to recognise a page seen before."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    for key, value in (params or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        query.extend((key, str(v)) for v in values)
    return urlunsplit(parts._replace(query=urlencode(sorted(query))))


# --- OAuth token endpoints -------------------------------------------------------------


def post_token_form(
    url: str,
    *,
    data: Mapping[str, str],
    basic_auth: tuple[str, str] | None = None,
    provider: str,
) -> dict[str, Any]:
    """POST a form to an OAuth token endpoint and return its JSON object.

    Same timeouts and 429/5xx retries as API calls, with a tighter budget (see
    ``post_form``). A 400/401 becomes ``GrantRevoked`` for ``invalid_grant``, else
    ``Unauthorized``/``ClientError``, keeping only the OAuth ``error`` code.
    """
    return post_form(url, data=data, basic_auth=basic_auth, provider=provider).json()


def token_call_max_seconds() -> float:
    """The longest one token-endpoint call can take, retries included (RELIABILITY 10)."""
    lock_timeout = float(settings.TOKEN_REFRESH_LOCK_TIMEOUT)
    per_attempt = settings.HTTP_CONNECT_TIMEOUT + settings.HTTP_READ_TIMEOUT
    attempts = min(settings.HTTP_MAX_ATTEMPTS, TOKEN_MAX_ATTEMPTS)
    return attempts * per_attempt + min(settings.HTTP_MAX_RETRY_WAIT, lock_timeout / 4)


def post_form(
    url: str,
    *,
    data: Mapping[str, str],
    basic_auth: tuple[str, str] | None = None,
    provider: str,
) -> ApiResponse:
    """POST a form to an OAuth endpoint (token, revocation) without a bearer token.

    Token calls run under the Connection row lock, so their retries stop early:
    at most ``TOKEN_MAX_ATTEMPTS`` attempts and a quarter of
    ``TOKEN_REFRESH_LOCK_TIMEOUT`` of waiting.
    """
    lock_timeout = float(settings.TOKEN_REFRESH_LOCK_TIMEOUT)
    with ApiClient(
        provider=provider,
        base_url=url,
        max_attempts=min(settings.HTTP_MAX_ATTEMPTS, TOKEN_MAX_ATTEMPTS),
        max_retry_wait=min(settings.HTTP_MAX_RETRY_WAIT, lock_timeout / 4),
    ) as client:
        return client._request(
            "POST", url, data=data, basic_auth=basic_auth, idempotent=True, oauth_errors=True
        )
