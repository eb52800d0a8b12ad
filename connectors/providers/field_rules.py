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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

RuleKind = Literal["credential", "other_people"]
CREDENTIAL: RuleKind = "credential"
OTHER_PEOPLE: RuleKind = "other_people"
KIND_LABELS: dict[str, str] = {
    CREDENTIAL: "Credential",
    OTHER_PEOPLE: "Other people's data",
}


@dataclass(frozen=True)
class FieldRule:
    """Why a field is deselected by default."""

    path: str
    kind: RuleKind
    reason: str
    when: Callable[[object], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def conditional(self) -> bool:
        return self.when is not None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


def credential(
    path: str, reason: str, *, when: Callable[[object], bool] | None = None
) -> FieldRule:
    return FieldRule(path, CREDENTIAL, reason, when)


def other_people(
    path: str, reason: str, *, when: Callable[[object], bool] | None = None
) -> FieldRule:
    return FieldRule(path, OTHER_PEOPLE, reason, when)


class FieldRules:
    """One provider's rules: ``{object_type: [FieldRule, ...]}``, looked up by path."""

    def __init__(self, tables: Mapping[str, Iterable[FieldRule]]) -> None:
        self._tables: dict[str, dict[str, FieldRule]] = {
            object_type: {rule.path: rule for rule in rules}
            for object_type, rules in tables.items()
        }

    def object_types(self) -> list[str]:
        return list(self._tables)

    def rules(self, object_type: str) -> list[FieldRule]:
        return list(self._tables.get(object_type, {}).values())

    def rule_for(self, object_type: str, path: str) -> FieldRule | None:
        """The rule on ``path`` or on the nearest ancestor path, else None."""
        table = self._tables.get(object_type)
        if not table:
            return None
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            rule = table.get(".".join(parts[:end]))
            if rule is not None:
                return rule
        return None


@cache
def _provider_rules() -> dict[str, FieldRules]:
    from connectors.providers import webex_fields, zoom_fields

    return {"webex": webex_fields.RULES, "zoom": zoom_fields.RULES}


def rules_for_provider(provider: str) -> FieldRules | None:
    return _provider_rules().get(provider)


def rule_for(provider: str, object_type: str, path: str) -> FieldRule | None:
    """Why ``path`` of a ``provider`` ``object_type`` record is deselected by default, if it is."""
    rules = rules_for_provider(provider)
    return rules.rule_for(object_type, path) if rules else None


@cache
def _provider_labels() -> dict[str, dict[str, str]]:
    from connectors.providers import webex_fields, zoom_fields

    return {"webex": webex_fields.OBJECT_TYPE_LABELS, "zoom": zoom_fields.OBJECT_TYPE_LABELS}


def object_type_label(provider: str, object_type: str) -> str:
    """A readable name for an object type ("call_log" -> "Call logs" unless a table says)."""
    label = _provider_labels().get(provider, {}).get(object_type)
    if label:
        return label
    return object_type.replace("_", " ").replace(":", " ").strip().capitalize() or object_type
