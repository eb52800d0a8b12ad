"""The shape of a provider's data rules for review: ``FieldRule`` and ``FieldRules``.

Provider tables (``webex_fields``, ``zoom_fields``) build on this; review looks
rules up through ``connectors.providers.field_rules``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
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
