"""Keep OAuth codes, states and search terms out of the access log.

The development server logs every request line to ``django.server``, query
string included: an OAuth callback's ``code`` and ``state``, a search for a
data subject's name or email. This filter replaces query values with
``[redacted]``, keeping only harmless paging parameters. A production reverse
proxy needs the same treatment in its own access-log format.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# Parameters whose values never identify anyone; everything else is redacted.
_KEPT = frozenset({"page", "per_page", "page_size"})
# A query string inside a logged request line: from "?" to whitespace or a quote.
_QUERY = re.compile(r"\?([^\s\"']*)")
_PAIR_SEPARATORS = re.compile(r"([&;])")


def _redact_pair(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    if not sep or name.lower() in _KEPT:
        return pair
    return f"{name}={REDACTED}"


def redact_query_strings(text: str) -> str:
    """``text`` with every query value but paging replaced by ``[redacted]``."""

    def _query(match: re.Match) -> str:
        parts = _PAIR_SEPARATORS.split(match.group(1))
        return "?" + "".join(p if p in ("&", ";") else _redact_pair(p) for p in parts)

    return _QUERY.sub(_query, text)


class RedactQueryStringFilter(logging.Filter):
    """Rewrites the record's message and string arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_query_strings(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query_strings(a) if isinstance(a, str) else a for a in record.args
            )
        return True
