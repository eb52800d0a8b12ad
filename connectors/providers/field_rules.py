"""Which fetched fields review deselects by default, and why.

Everything a provider returns about the subject is released by default. Two kinds
of fields are not: credentials (passwords, host keys, links that carry an access
token) and other people's data (alternative hosts, invitees, the other party of a
call). Each provider keeps one table per object type in its own module
(``webex_fields``, ``zoom_fields``); review reads them only through
:func:`rule_for`, so templates and views never hard-code a field.

A rule's path is a dotted path into the record as fetched. It covers the path
itself and everything under it: a rule on ``settings.alternative_hosts`` also
matches ``settings.alternative_hosts.0``-like sub-paths of an object there.

A rule with ``when`` applies only if some record of the type holds a value there
for which ``when(value)`` is true (a join link that carries its passcode, a
download link that carries a token); review checks the values.
"""

from __future__ import annotations

from connectors.providers import webex_fields, zoom_fields
from connectors.providers.data_rules import (
    CREDENTIAL,
    KIND_LABELS,
    OTHER_PEOPLE,
    FieldRule,
    FieldRules,
    RuleKind,
    credential,
    other_people,
)

__all__ = [
    "CREDENTIAL",
    "KIND_LABELS",
    "OTHER_PEOPLE",
    "FieldRule",
    "FieldRules",
    "RuleKind",
    "credential",
    "object_type_label",
    "other_people",
    "path_sort_key",
    "rule_for",
    "rules_for_provider",
]

_RULES: dict[str, FieldRules] = {"webex": webex_fields.RULES, "zoom": zoom_fields.RULES}
_LABELS: dict[str, dict[str, str]] = {
    "webex": webex_fields.OBJECT_TYPE_LABELS,
    "zoom": zoom_fields.OBJECT_TYPE_LABELS,
}


# Fields that name an object come first in review tables; the rest follow by path.
LEADING_FIELDS = (
    "id", "uuid", "meetingNumber", "title", "topic", "name", "email", "type", "state",
    "start", "start_time", "date_time", "end", "duration",
)  # fmt: skip
_LEADING = {name: index for index, name in enumerate(LEADING_FIELDS)}


def path_sort_key(path: str) -> tuple[int, tuple[str, ...]]:
    """The order review shows a type's field paths in, the same on every database.

    PostgreSQL's jsonb does not keep the provider's key order, so "first seen" would
    differ between SQLite and PostgreSQL: a fixed order keeps pages and reports alike.
    """
    parts = path.split(".")
    return (_LEADING.get(parts[0], len(_LEADING)), tuple(p.casefold() for p in parts))


def rules_for_provider(provider: str) -> FieldRules | None:
    return _RULES.get(provider)


def rule_for(provider: str, object_type: str, path: str) -> FieldRule | None:
    """Why ``path`` of a ``provider`` ``object_type`` record is deselected by default, if it is."""
    rules = rules_for_provider(provider)
    return rules.rule_for(object_type, path) if rules else None


def object_type_label(provider: str, object_type: str) -> str:
    """A readable name for an object type ("call_log" -> "Call log" unless a table says)."""
    label = _LABELS.get(provider, {}).get(object_type)
    if label:
        return label
    return object_type.replace("_", " ").replace(":", " ").strip().capitalize() or object_type
