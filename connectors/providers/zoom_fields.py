"""Zoom data rules for review: fields deselected by default, per object type.

See connectors/providers/field_rules.py for what a rule means.
"""

from __future__ import annotations

from connectors.providers.field_rules import FieldRules, credential, other_people

OBJECT_TYPE_LABELS: dict[str, str] = {
    "meeting": "Meetings",
}

RULES = FieldRules(
    {
        "meeting": [
            credential("password", "Meeting password: a credential that admits anyone."),
            other_people("invitees", "Other people invited to the meeting."),
        ],
    }
)
