"""Webex data rules for review: fields deselected by default, per object type.

See connectors/providers/data_rules.py and field_rules.py for what a rule means, and
docs/providers.md, 'Webex: meetings listing' and 'Webex: participants' for the
fields. Participants other than the subject are already dropped when fetching;
interpreters are cut down to the subject there too.
"""

from __future__ import annotations

from connectors.providers.data_rules import FieldRules, credential, other_people

OBJECT_TYPE_LABELS: dict[str, str] = {
    "meeting": "Meetings",
}

_PASSWORD = "A meeting password: it lets anyone join, so it is a credential, not personal data."

RULES = FieldRules(
    {
        "meeting": [
            credential("hostKey", "The host key lets anyone take over the meeting as host."),
            credential("password", _PASSWORD),
            credential("phoneAndVideoSystemPassword", _PASSWORD),
            credential("panelistPassword", _PASSWORD),
            credential("phoneAndVideoSystemPanelistPassword", _PASSWORD),
            other_people("invitees", "The other people invited to the meeting."),
            other_people("cohosts", "The meeting's other co-hosts."),
            other_people("registrants", "Other people who registered for the meeting."),
        ],
    }
)
