"""Every Zoom scope string the product uses, once (see docs/providers.md, 'Zoom: OAuth and tokens').

The granular scopes are what we ask for; the classic ones are accepted from
older apps. The simulator keeps its own copy on purpose.
"""

from __future__ import annotations

USER_SCOPE = "user:read:user:admin"
USER_SETTINGS_SCOPE = "user:read:settings:admin"
GROUPS_SCOPE = "group:read:group:admin"
MEETINGS_SCOPE = "meeting:read:list_meetings:admin"
WEBINARS_SCOPE = "webinar:read:list_webinars:admin"
RECORDINGS_SCOPE = "cloud_recording:read:list_user_recordings:admin"
PHONE_USER_SCOPE = "phone:read:user:admin"
PHONE_SETTINGS_SCOPE = "phone:read:user_setting:admin"
PHONE_RECORDINGS_SCOPE = "phone:read:list_recordings:admin"
VOICEMAILS_SCOPE = "phone:read:list_voicemails:admin"
CALL_LOGS_SCOPE = "phone:read:list_call_logs:admin"
# Not requested: lets verification see the whole account; its absence is only advice.
LIST_USERS_SCOPE = "user:read:list_users:admin"

GRANULAR_SCOPES = (
    USER_SCOPE,
    USER_SETTINGS_SCOPE,
    GROUPS_SCOPE,
    MEETINGS_SCOPE,
    WEBINARS_SCOPE,
    RECORDINGS_SCOPE,
    PHONE_USER_SCOPE,
    PHONE_SETTINGS_SCOPE,
    PHONE_RECORDINGS_SCOPE,
    VOICEMAILS_SCOPE,
    CALL_LOGS_SCOPE,
)

CLASSIC_MEETINGS_SCOPE = "meeting:read:admin"
CLASSIC_WEBINARS_SCOPE = "webinar:read:admin"
CLASSIC_GROUPS_SCOPE = "group:read:admin"
CLASSIC_CHAT_GROUPS_SCOPE = "imgroup:read:admin"
CLASSIC_USER_SCOPE = "user:read:admin"
CLASSIC_RECORDINGS_SCOPE = "recording:read:admin"
CLASSIC_PHONE_SCOPE = "phone:read:admin"

CLASSIC_SCOPES = (
    CLASSIC_MEETINGS_SCOPE,
    CLASSIC_WEBINARS_SCOPE,
    CLASSIC_GROUPS_SCOPE,
    CLASSIC_CHAT_GROUPS_SCOPE,
    CLASSIC_USER_SCOPE,
    CLASSIC_RECORDINGS_SCOPE,
    CLASSIC_PHONE_SCOPE,
)

# The scope (granular, what we ask for) each fetched object type's endpoint needs.
SCOPE_FOR_OBJECT_TYPE = {
    "user": USER_SCOPE,
    "settings": USER_SETTINGS_SCOPE,
    "meeting": MEETINGS_SCOPE,
    "webinar": WEBINARS_SCOPE,
    "recording": RECORDINGS_SCOPE,
    "phone_user": PHONE_USER_SCOPE,
    "phone_settings": PHONE_SETTINGS_SCOPE,
    "call_log": CALL_LOGS_SCOPE,
    "voicemail": VOICEMAILS_SCOPE,
    "phone_recording": PHONE_RECORDINGS_SCOPE,
}
