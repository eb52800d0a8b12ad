"""Zoom data rules for review: fields deselected by default, per object type.

See connectors/providers/data_rules.py and field_rules.py for what a rule means, and
docs/providers.md, 'Zoom: meetings and webinars', 'Zoom: recordings' and
'Zoom: phone' for the fields. A call has two sides and either may be the subject,
so both sides' names and numbers start deselected; staff release the subject's.
"""

from __future__ import annotations

from typing import Any

from connectors.providers.data_rules import FieldRules, credential, other_people

OBJECT_TYPE_LABELS: dict[str, str] = {
    "user": "Profile",
    "settings": "Meeting settings",
    "meeting": "Meetings",
    "webinar": "Webinars",
    "recording": "Cloud recordings",
    "phone_user": "Phone profile",
    "phone_settings": "Phone settings",
    "call_log": "Call logs",
    "voicemail": "Voicemails",
    "phone_recording": "Call recordings",
}


def _carries(*markers: str):
    """True when a value (text, or any text inside lists and objects) holds a marker."""

    def check(value: Any) -> bool:
        if isinstance(value, str):
            return any(m in value for m in markers)
        if isinstance(value, dict):
            return any(check(v) for v in value.values())
        if isinstance(value, list | tuple):
            return any(check(v) for v in value)
        return False

    return check


_TOKEN = _carries("access_token=", "token=", "tk=")
_PASSCODE = _carries("pwd=", "token=", "tk=")
_PASSWORD = "A meeting password: it lets anyone join, so it is a credential, not personal data."
_START = "The start link logs whoever opens it in as the host."
_JOIN = "This join link carries the meeting passcode (pwd=), which admits anyone."
_FILES = "These links carry an access token that lets anyone download the recording."
_SIDES = "The other party of a call: one side of each call is another person."
_PERSONAL_LINK = (
    "This personal meeting link carries the room's passcode (pwd=), which admits anyone "
    "to the subject's personal meeting room."
)

_MEETING = [
    credential("start_url", _START),
    credential("password", _PASSWORD),
    credential("h323_password", _PASSWORD),
    credential("pstn_password", _PASSWORD),
    credential("encrypted_password", _PASSWORD),
    credential("join_url", _JOIN, when=_PASSCODE),
    credential("registration_url", _JOIN, when=_PASSCODE),
    other_people("settings.alternative_hosts", "Other people who may host this meeting."),
    other_people("settings.meeting_invitees", "The other people invited."),
    other_people(
        "settings.authentication_exception", "Other people allowed in without signing in."
    ),
    other_people("settings.breakout_room.rooms", "Who else was assigned to breakout rooms."),
    other_people("settings.language_interpretation.interpreters", "The interpreters."),
    other_people("settings.sign_language_interpretation.interpreters", "The interpreters."),
    other_people("registrants", "Other people who registered."),
]

_SIDE_FIELDS = (
    "caller_name",
    "caller_number",
    "caller_did_number",
    "caller_account_code",
    "callee_name",
    "callee_number",
    "callee_did_number",
    "callee_account_code",
)
_HANDLED_BY = ("forwarded_by", "forwarded_to", "accepted_by", "outgoing_by")


def _call_sides() -> list:
    return [other_people(path, _SIDES) for path in _SIDE_FIELDS] + [
        other_people(path, "Another person or line who handled the call.") for path in _HANDLED_BY
    ]


RULES = FieldRules(
    {
        # GET /users/{userId} (see docs/providers.md, 'Zoom: users and lookup'): the profile
        # is the subject's own, except a personal link with its passcode and the manager
        # (another person). pmi, vanity_url, jid and pic_url admit nobody on their own.
        "user": [
            credential("personal_meeting_url", _PERSONAL_LINK, when=_PASSCODE),
            other_people("manager", "The subject's manager: another person."),
        ],
        # GET /users/{userId}/settings.
        "settings": [
            credential("schedule_meeting.pmi_password", _PASSWORD),
        ],
        "meeting": _MEETING,
        "webinar": [
            *_MEETING,
            other_people("panelists", "The other panelists."),
            other_people("settings.panelists_invitation_email_notification", "Other panelists."),
        ],
        "recording": [
            credential("password", _PASSWORD),
            credential("recording_play_passcode", _PASSWORD),
            credential("share_url", _JOIN, when=_PASSCODE),
            credential("recording_files", _FILES, when=_TOKEN),
            credential("download_access_token", "An access token for downloading the files."),
        ],
        "call_log": _call_sides(),
        "voicemail": [
            other_people("caller_name", "Who left the voicemail: another person."),
            other_people("caller_number", "Who left the voicemail: another person."),
            other_people("caller_account_code", "Who left the voicemail: another person."),
            credential("download_url", _FILES, when=_TOKEN),
        ],
        "phone_recording": [
            *_call_sides(),
            credential("download_url", _FILES, when=_TOKEN),
            credential("transcript_download_url", _FILES, when=_TOKEN),
        ],
        "phone_settings": [
            other_people("delegation.assistants", "The subject's assistants: other people."),
            other_people("auto_call_recording_access_members", "Other people with access."),
            other_people("ad_hoc_call_recording_access_members", "Other people with access."),
            other_people("shared_lines_call_setting", "Lines shared with other people."),
        ],
    }
)
