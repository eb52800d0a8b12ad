"""The one HTTP client for every provider call; the only module that imports ``requests``.

Every call goes through the same loop: send once (bearer header, (connect, read)
timeouts, the shared rate budget, one log line per attempt), then a pure
``retry_decision`` says whether to wait and try again (full-jitter exponential
backoff on 429/5xx/timeouts/connection errors, honouring ``Retry-After``) or give
up with which error. One token refresh follows a 401 (and, if the refreshed token
is refused too, one try with the token now stored, which another worker may have
refreshed); a 2xx with a malformed body is sent again, with its own small bound
(``MALFORMED_MAX_ATTEMPTS``). Errors are mapped onto ``connectors.exceptions``.
All waiting goes through ``connectors.clock``.

What differs between providers comes from the provider object the client is
built with (see ``ProviderHooks``): how an error body names a missing scope, and
how a listing pages. Pagination yields ``Page(items, next_cursor)``.
``next_cursor`` is where to resume: persist it after storing a page's items and
pass it back as ``start_cursor`` with the same ``params`` to go on. When iteration
ends, the last page's ``next_cursor`` is ``None`` if the listing is complete, or
the resume point if ``max_pages`` stopped it.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

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
# Tests swap the random source with ``use_jitter`` for deterministic waits.
jitter = random.Random()  # noqa: S311 (jitter, not security)
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
DEFAULT_MAX_PAGES = 1000
TOKEN_MAX_ATTEMPTS = 3
# A 2xx whose body is not what the call expects (truncated or not JSON, not an object,
# a listing's items not a list of objects) is sent again, up to this many attempts per
# call, counted apart from 429/5xx retries: a garbled answer is usually a one-off.
MALFORMED_MAX_ATTEMPTS = 4
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

Params = Mapping[str, Any] | None


class Jitter(Protocol):
    def uniform(self, low: float, high: float) -> float: ...


@contextmanager
def use_jitter(source: Jitter) -> Iterator[Jitter]:
    """Draw backoff waits from ``source`` for the duration of the block (all threads)."""
    global jitter
    previous = jitter
    jitter = source
    try:
        yield source
    finally:
        jitter = previous


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff before attempt ``attempt + 1``."""
    return jitter.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1)))


class TokenSource(Protocol):
    """Where the client gets bearer tokens (a Connection's tokens, refreshed under a lock)."""

    def access_token(self) -> str:
        """A current access token."""
        ...

    def refreshed_token(self, stale: str) -> str:
        """A new token after ``stale`` got a 401; raises ``GrantRevoked`` if refused."""
        ...


@runtime_checkable
class StoredTokenSource(TokenSource, Protocol):
    """A token source backed by shared storage that other workers also refresh."""

    def stored_token(self, rejected: str) -> str | None:
        """The newest stored token, read afresh, or None if it is still ``rejected``."""
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
        self.path = path
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

    def items(self, items_key: str) -> list[dict[str, Any]]:
        """A listing's objects; absent or null means empty, anything but objects is malformed."""
        items = self.json().get(items_key)
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise MalformedResponse(
                provider=self._context["provider"],
                method="GET",
                path=self.path,
                status=self.status,
            )
        return items

    def next_link(self) -> str | None:
        """The ``rel="next"`` URL of the ``Link`` header, as given, or None."""
        header = self.headers.get("Link")
        if not header:
            return None
        for link in requests.utils.parse_header_links(header):
            if "next" in (link.get("rel") or "").split() and link.get("url"):
                return link["url"]
        return None

    def __repr__(self) -> str:
        return f"ApiResponse(status={self.status}, path={self.path})"


@dataclass(frozen=True)
class Page:
    """One page of a listing and the cursor to persist for resuming after it."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class Pager(Protocol):
    """One walk through a listing, in a provider's way (made by ``ProviderHooks.pager``).

    ``ApiClient.paginate`` asks for the first request, then after each page for
    the cursor to the next one (None ends the listing), then for that request.
    """

    def first_request(self) -> tuple[str, Params]:
        """URL (or path) and query of the first page, or of ``start_cursor``'s page."""
        ...

    def next_cursor(self, response: ApiResponse) -> str | None:
        """Where the next page is, or None when the listing ends (or would loop)."""
        ...

    def request_for(self, cursor: str) -> tuple[str, Params]:
        """URL (or path) and query of the page ``cursor`` names."""
        ...


class ProviderHooks(Protocol):
    """What the client needs to know about a provider (``connectors.providers.base``)."""

    slug: str

    def scope_missing(self, status: int, provider_code: int | None) -> bool:
        """Whether an error answer means the grant lacks a scope."""
        ...

    def pager(
        self,
        client: ApiClient,
        path: str,
        *,
        params: Params,
        start_cursor: str | None,
        page_size: int | None,
    ) -> Pager:
        """A fresh walk through the listing at ``path``."""
        ...


# --- The retry decision -----------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """Wait ``delay`` seconds, then send again."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Raise: ``error`` says which kind ("request_error", "timeout", "connection_error"
    or "response" for the answer's own error); ``retry_after`` (when not None) is put
    on it so a task knows when trying again makes sense."""

    error: str
    retry_after: float | None = None


def retry_decision(
    *,
    attempt: int,
    max_attempts: int,
    status: int | None = None,
    failure: Exception | None = None,
    retry_after: float | None = None,
    retry_unsafe: bool,
    allowance: float,
    backoff: Callable[[int], float] = backoff,
) -> Retry | GiveUp:
    """Retry or give up after attempt ``attempt`` failed, with nothing else to consult.

    ``status`` is the answer's HTTP status (an error: 4xx or 5xx), or ``failure``
    the exception that stopped the request. ``retry_unsafe`` says whether the
    request may be sent twice; ``allowance`` is how much longer this call may still
    wait (retry cap and deadline). A transport failure or 429/5xx is retried after
    ``Retry-After`` or ``backoff(attempt)`` while attempts and allowance last; a
    connect timeout and a 429 are retried even for unsafe requests (the server did
    not act on them); other answers give up at once.
    """
    if failure is not None:
        kind = _failure_code(failure)
        if kind == "request_error":
            return GiveUp(kind)  # e.g. an invalid URL: retrying cannot help
        retryable = retry_unsafe or isinstance(failure, requests.ConnectTimeout)
        wait = backoff(attempt)
    elif status is not None and (status == 429 or status >= 500):
        kind = "response"
        retryable = retry_unsafe or status == 429
        wait = retry_after if retry_after is not None else backoff(attempt)
    else:
        return GiveUp("response")
    if not retryable or attempt >= max_attempts or wait > allowance:
        return GiveUp(kind, retry_after=wait)
    return Retry(wait)


# --- Clients ------------------------------------------------------------------------------


class _Session(requests.Session):
    """A session that reads the proxy environment once per host, not on every call.

    ``requests`` walks every environment variable for proxy settings on each request
    (about a millisecond, a third of a call's client CPU, paid under the GIL by every
    fetch thread). A client lives for one fetch, so it keeps the environment it met
    on its first call to each host; CA bundle variables are read as ``requests`` does.
    """

    def __init__(self) -> None:
        super().__init__()
        self._env_proxies: dict[tuple[str, str], dict[str, str]] = {}
        self._env_lock = threading.Lock()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        with self._env_lock:
            found = self._env_proxies.get(key)
            if found is None:
                no_proxy = proxies.get("no_proxy") if proxies is not None else None
                found = requests.utils.get_environ_proxies(url, no_proxy=no_proxy)
                self._env_proxies[key] = found
        proxies = dict(proxies or {})
        for name, value in found.items():
            proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
            )
        return {
            "proxies": requests.sessions.merge_setting(proxies, self.proxies),
            "stream": requests.sessions.merge_setting(stream, self.stream),
            "verify": requests.sessions.merge_setting(verify, self.verify),
            "cert": requests.sessions.merge_setting(cert, self.cert),
        }


class _Caller:
    """Send once, decide, wait, repeat: the loop both clients share."""

    def __init__(
        self,
        *,
        provider: str,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
        max_retry_wait: float | None = None,
    ) -> None:
        self.provider = provider
        self.timeout = (
            connect_timeout if connect_timeout is not None else settings.HTTP_CONNECT_TIMEOUT,
            read_timeout if read_timeout is not None else settings.HTTP_READ_TIMEOUT,
        )
        self.max_attempts = max(1, max_attempts or settings.HTTP_MAX_ATTEMPTS)
        self.max_retry_wait = (
            max_retry_wait if max_retry_wait is not None else settings.HTTP_MAX_RETRY_WAIT
        )
        # clock.monotonic() after which no retry or budget wait may end: a task sets it
        # so it stops (RateLimited/Transient with retry_after) before its time limit.
        self.deadline: float | None = None
        # HTTP attempts made through this client (progress shows "API calls").
        self.call_count = 0
        self._count_lock = threading.Lock()
        self._session = _Session()
        # One kept-alive connection per concurrent call (the fetches' worker pools), so
        # calls beyond urllib3's default ten do not each open a new connection.
        pool = max(settings.FETCH_PARTICIPANT_CONCURRENCY, settings.ZOOM_FETCH_CONCURRENCY) + 2
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def close(self) -> None:
        self._session.close()

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        category: str = "default",
        idempotent: bool | None = None,
        basic_auth: tuple[str, str] | None = None,
        check: Callable[[ApiResponse], object] | None = None,
    ) -> ApiResponse:
        """Send until an answer, retrying as ``retry_decision`` says.

        ``check`` reads a successful answer's body (raising ``MalformedResponse`` if
        it is unusable) before it is returned: a malformed body is sent again, up to
        ``MALFORMED_MAX_ATTEMPTS`` attempts, if the request may be repeated.
        """
        method = method.upper()
        path = safe_path(url)
        retry_unsafe = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        token = self._token()
        refreshed = reread = False
        waited = 0.0
        attempt = 0
        malformed = 0  # attempts answered with a malformed body
        while True:
            attempt += 1
            with self._count_lock:
                self.call_count += 1
            waited += self._take_slot(category, waited, method, path)
            response, failure = self._send_once(
                method,
                url,
                params=params,
                json=json,
                data=data,
                token=token,
                auth=basic_auth,
                attempt=attempt,
            )
            if response is not None:
                self._observe(category, response)
                status = response.status_code
                if status < 400:
                    answer = ApiResponse(
                        status=status,
                        headers=response.headers,
                        content=response.content,
                        provider=self.provider,
                        method=method,
                        path=path,
                    )
                    try:
                        if check is not None:
                            check(answer)
                    except MalformedResponse as exc:
                        malformed += 1
                        wait = backoff(malformed)
                        if (
                            not retry_unsafe
                            or malformed >= MALFORMED_MAX_ATTEMPTS
                            or wait > self._wait_allowance(waited)
                        ):
                            exc.retry_after = wait
                            raise
                        clock.sleep(wait)
                        waited += wait
                        continue
                    return answer
                if status == 401 and token and not refreshed:
                    refreshed = True
                    token = self._refreshed(token)
                    continue
                if status == 401 and token and not reread:
                    # Rejected right after a refresh: another worker may have refreshed
                    # since (and the provider dropped ours). Once, with the stored token.
                    reread = True
                    newest = self._stored_token(token)
                    if newest is not None:
                        token = newest
                        continue
                retry_after = parse_retry_after(response.headers.get("Retry-After"), clock.now())
            else:
                status, retry_after = None, None
            decision = retry_decision(
                attempt=attempt - malformed,
                max_attempts=self.max_attempts,
                status=status,
                failure=failure,
                retry_after=retry_after,
                retry_unsafe=retry_unsafe,
                allowance=self._wait_allowance(waited),
            )
            if isinstance(decision, Retry):
                clock.sleep(decision.delay)
                waited += decision.delay
                continue
            error = self._error(decision.error, method, path, response, retry_after)
            if decision.retry_after is not None:
                error.retry_after = decision.retry_after
            raise error

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Params,
        json: Any,
        data: Mapping[str, str] | None,
        token: str | None,
        auth: tuple[str, str] | None,
        attempt: int,
    ) -> tuple[requests.Response | None, requests.RequestException | None]:
        """One HTTP attempt, logged: the response, or the exception that stopped it (not
        raised, so the requests exception, whose text holds the full URL, is never
        chained onto ours)."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = clock.monotonic()
        path = safe_path(url)
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                auth=auth,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            self._log(method, path, _failure_code(exc), started, attempt)
            return None, exc
        self._log(method, path, response.status_code, started, attempt)
        return response, None

    def _error(
        self,
        kind: str,
        method: str,
        path: str,
        response: requests.Response | None,
        retry_after: float | None,
    ) -> ApiError:
        context = {"provider": self.provider, "method": method, "path": path}
        if kind == "request_error":
            return ApiError(code=kind, **context)
        if response is None:
            return Transient(code=kind, **context)
        return self._error_from_response(response, context, retry_after)

    def _error_from_response(
        self, response: requests.Response, context: dict[str, str], retry_after: float | None
    ) -> ApiError:
        return ApiError.from_response(
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            retry_after=retry_after,
            **context,
        )

    # Hooks ApiClient fills in: tokens and the shared rate budget.

    def _token(self) -> str | None:
        return None

    def _refreshed(self, stale: str) -> str:
        raise NotImplementedError

    def _stored_token(self, rejected: str) -> str | None:
        return None

    def _take_slot(self, category: str, waited: float, method: str, path: str) -> float:
        return 0.0

    def _observe(self, category: str, response: requests.Response) -> None:
        return None

    def _wait_allowance(self, waited: float) -> float:
        """How much longer this call may wait: the retry cap, and the deadline if set."""
        allowance = self.max_retry_wait - waited
        if self.deadline is not None:
            allowance = min(allowance, self.deadline - clock.monotonic())
        return max(allowance, 0.0)

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


def _failure_code(failure: Exception) -> str:
    if not isinstance(failure, _TRANSPORT_ERRORS):
        return "request_error"
    return "timeout" if isinstance(failure, requests.Timeout) else "connection_error"


class ApiClient(_Caller):
    """HTTP for one provider connection: tokens, timeouts, retries, pagination, limits."""

    def __init__(
        self,
        *,
        provider: ProviderHooks,
        base_url: str,
        token_source: TokenSource | None = None,
        budget: RateBudget | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
        max_retry_wait: float | None = None,
    ) -> None:
        super().__init__(
            provider=provider.slug,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            max_retry_wait=max_retry_wait,
        )
        self.hooks = provider
        self.base_url = base_url.rstrip("/")
        self.token_source = token_source
        self.budget = budget

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
        """GET a JSON object; a malformed body is retried (see ``MALFORMED_MAX_ATTEMPTS``)."""
        return self._call(
            "GET",
            self.build_url(path_or_url),
            params=params,
            category=category,
            check=ApiResponse.json,
        )

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
        return self._call(
            "POST",
            self.build_url(path_or_url),
            params=params,
            json=json,
            category=category,
            idempotent=idempotent,
            check=ApiResponse.json if idempotent else None,  # can be sent again
        )

    def _token(self) -> str | None:
        return self.token_source.access_token() if self.token_source else None

    def _refreshed(self, stale: str) -> str:
        return self.token_source.refreshed_token(stale)

    def _stored_token(self, rejected: str) -> str | None:
        if isinstance(self.token_source, StoredTokenSource):
            return self.token_source.stored_token(rejected)
        return None

    def _take_slot(self, category: str, waited: float, method: str, path: str) -> float:
        if self.budget is None:
            return 0.0
        try:
            return self.budget.acquire(category, max_wait=self._wait_allowance(waited))
        except BudgetWaitTooLong as exc:
            raise RateLimited(
                provider=self.provider,
                method=method,
                path=path,
                code="rate_limited",
                retry_after=exc.retry_after,
            ) from None

    def _observe(self, category: str, response: requests.Response) -> None:
        if self.budget is not None:
            self.budget.observe(category, response.status_code, response.headers)

    def _error_from_response(
        self, response: requests.Response, context: dict[str, str], retry_after: float | None
    ) -> ApiError:
        return ApiError.from_response(
            status=response.status_code,
            headers=response.headers,
            content=response.content,
            retry_after=retry_after,
            scope_missing=self.hooks.scope_missing,
            **context,
        )

    # --- pagination ------------------------------------------------------------------

    def paginate(
        self,
        path: str,
        *,
        params: Params = None,
        items_key: str = "items",
        page_size: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        start_cursor: str | None = None,
        category: str = "default",
    ) -> Iterator[Page]:
        """Walk a listing page by page the provider's way, up to ``max_pages`` pages.

        A page whose body is malformed (its items not a list of objects included) is
        asked for again with the same URL, so the listing goes on from that page.
        """
        pager = self.hooks.pager(
            self, path, params=params, start_cursor=start_cursor, page_size=page_size
        )
        url, query = pager.first_request()
        pages = 0
        while True:
            response, items = self._page(url, query, items_key=items_key, category=category)
            pages += 1
            next_cursor = pager.next_cursor(response)
            yield Page(items, next_cursor)
            if not next_cursor:
                return
            if pages >= max_pages:
                logger.warning(
                    "provider=%s path=%s stopped at max_pages=%d",
                    self.provider,
                    safe_path(url),
                    max_pages,
                )
                return
            url, query = pager.request_for(next_cursor)

    def _page(
        self, url: str, query: Params, *, items_key: str, category: str
    ) -> tuple[ApiResponse, list[dict[str, Any]]]:
        """One page and its items; a page whose items are not a list of objects is
        asked for again (``get`` already retries a body that is not a JSON object)."""
        malformed = 0
        while True:
            response = self.get(url, params=query, category=category)
            try:
                return response, response.items(items_key)
            except MalformedResponse as exc:
                malformed += 1
                wait = backoff(malformed)
                if malformed >= MALFORMED_MAX_ATTEMPTS or wait > self._wait_allowance(0.0):
                    exc.retry_after = wait
                    raise
                clock.sleep(wait)


# --- OAuth endpoints -------------------------------------------------------------------


class TokenClient(_Caller):
    """POSTs forms to OAuth endpoints (token, revocation): no bearer token, no budget.

    Token calls run under the Connection row lock, so their retries stop early:
    at most ``TOKEN_MAX_ATTEMPTS`` attempts and a quarter of
    ``TOKEN_REFRESH_LOCK_TIMEOUT`` of waiting. A 400/401 is classified by its OAuth
    ``error`` code alone: ``GrantRevoked`` for ``invalid_grant``, else
    ``Unauthorized``/``ClientError``.
    """

    def __init__(self, *, provider: str) -> None:
        lock_timeout = float(settings.TOKEN_REFRESH_LOCK_TIMEOUT)
        super().__init__(
            provider=provider,
            max_attempts=min(settings.HTTP_MAX_ATTEMPTS, TOKEN_MAX_ATTEMPTS),
            max_retry_wait=min(settings.HTTP_MAX_RETRY_WAIT, lock_timeout / 4),
        )

    def post_form(
        self, url: str, *, data: Mapping[str, str], basic_auth: tuple[str, str] | None = None
    ) -> ApiResponse:
        with self._session:
            return self._call("POST", url, data=data, basic_auth=basic_auth, idempotent=True)

    def _error_from_response(
        self, response: requests.Response, context: dict[str, str], retry_after: float | None
    ) -> ApiError:
        if response.status_code in (400, 401):
            return ApiError.from_oauth_response(
                status=response.status_code, content=response.content, **context
            )
        return super()._error_from_response(response, context, retry_after)


def token_call_max_seconds() -> float:
    """The longest one token-endpoint call can take, retries included.

    It must stay below the refresh lock timeout, which stays below the task time
    limit, so a worker holding the row lock never outlives its task.
    """
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
    """POST a form to an OAuth endpoint (token, revocation) with a ``TokenClient``."""
    return TokenClient(provider=provider).post_form(url, data=data, basic_auth=basic_auth)


def post_token_form(
    url: str,
    *,
    data: Mapping[str, str],
    basic_auth: tuple[str, str] | None = None,
    provider: str,
) -> dict[str, Any]:
    """POST a form to an OAuth token endpoint and return its JSON object."""
    return post_form(url, data=data, basic_auth=basic_auth, provider=provider).json()
