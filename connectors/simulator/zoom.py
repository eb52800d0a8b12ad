"""Zoom REST API v2: users, settings, meetings, webinars, recordings, Zoom Phone."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from .http import Request, Response, zoom_error
from .seed import ZoomAccount, ZoomUser, add_months, floor_day, iso
from .state import Grant, SimulatorState
from .truth import find_zoom_user, parse_iso, six_months_floor, zoom_meeting_set

INVALID_TOKEN = "Invalid access token."
QS_TOKEN = "Invalid access token, this access token is not supported as query parameter string."


class ZoomFailure(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _fail(status: int, code: int, message: str, headers: dict | None = None) -> ZoomFailure:
    return ZoomFailure(zoom_error(status, code, message, headers))


class Caller:
    def __init__(
        self, grant: Grant, account: ZoomAccount, user: ZoomUser | None, case_sensitive: bool
    ) -> None:
        self.grant, self.account, self.user = grant, account, user
        self.case_sensitive = case_sensitive


# path pattern -> (name, rate category, (user scopes, admin scopes))
ROUTES: list[tuple[re.Pattern[str], str, str, tuple[list[str], list[str]]]] = [
    (
        re.compile(r"^/users$"),
        "list_users",
        "Medium",
        ([], ["user:read:list_users:admin", "user:read:admin"]),
    ),
    (
        re.compile(r"^/users/([^/]+)$"),
        "get_user",
        "Light",
        (
            ["user:read:user", "user:read", "user_info:read"],
            ["user:read:user:admin", "user:read:admin"],
        ),
    ),
    (
        re.compile(r"^/users/([^/]+)/settings$"),
        "user_settings",
        "Medium",
        (["user:read:settings", "user:read"], ["user:read:settings:admin", "user:read:admin"]),
    ),
    (
        re.compile(r"^/users/([^/]+)/meetings$"),
        "meetings",
        "Medium",
        (
            ["meeting:read:list_meetings", "meeting:read"],
            ["meeting:read:list_meetings:admin", "meeting:read:admin"],
        ),
    ),
    (
        re.compile(r"^/users/([^/]+)/webinars$"),
        "webinars",
        "Medium",
        (
            ["webinar:read:list_webinars", "webinar:read"],
            ["webinar:read:list_webinars:admin", "webinar:read:admin"],
        ),
    ),
    (
        re.compile(r"^/users/([^/]+)/recordings$"),
        "recordings",
        "Medium",
        (
            ["cloud_recording:read:list_user_recordings", "recording:read"],
            ["cloud_recording:read:list_user_recordings:admin", "recording:read:admin"],
        ),
    ),
    (
        re.compile(r"^/phone/users/([^/]+)$"),
        "phone_user",
        "Light",
        (["phone:read:user", "phone:read"], ["phone:read:user:admin", "phone:read:admin"]),
    ),
    (
        re.compile(r"^/phone/users/([^/]+)/settings$"),
        "phone_settings",
        "Light",
        (
            ["phone:read:user_setting", "phone:read"],
            ["phone:read:user_setting:admin", "phone:read:admin"],
        ),
    ),
    (
        re.compile(r"^/phone/users/([^/]+)/call_logs$"),
        "call_logs",
        "Medium",
        (
            ["phone:read:list_call_logs", "phone:read", "phone_call_log:read"],
            ["phone:read:list_call_logs:admin", "phone:read:admin", "phone_call_log:read:admin"],
        ),
    ),
    (
        re.compile(r"^/phone/users/([^/]+)/voice_mails$"),
        "voice_mails",
        "Medium",
        (
            ["phone:read:list_voicemails", "phone:read", "phone_voicemail:read"],
            ["phone:read:list_voicemails:admin", "phone:read:admin", "phone_voicemail:read:admin"],
        ),
    ),
    (
        re.compile(r"^/phone/users/([^/]+)/recordings$"),
        "phone_recordings",
        "Medium",
        (
            ["phone:read:list_recordings", "phone:read", "phone_recording:read"],
            ["phone:read:list_recordings:admin", "phone:read:admin", "phone_recording:read:admin"],
        ),
    ),
]


def handle(state: SimulatorState, req: Request, sub: str) -> Response:
    for pattern, name, category, scopes in ROUTES:
        match = pattern.match(sub)
        if not match:
            continue
        if req.method != "GET":
            return zoom_error(405, 405, "Method not allowed.")
        try:
            with state.lock:
                caller = _authenticate(state, req)
                headers = _rate_limit(state, caller, category)
                user_key = match.group(1) if match.groups() else None
                _check_scopes(caller, scopes, user_key)
                response = HANDLERS[name](state, req, caller, user_key)
        except ZoomFailure as failure:
            return failure.response
        response.headers.update(headers)
        return response
    return zoom_error(404, 404, "Not Found")


def _authenticate(state: SimulatorState, req: Request) -> Caller:
    if "access_token" in req.query:
        raise _fail(401, 124, QS_TOKEN)
    token = req.bearer()
    if token is None:
        raise _fail(401, 124, INVALID_TOKEN)
    status, grant = state.token_status(token)
    if status == "expired":
        raise _fail(401, 124, "Access token is expired.")
    if status != "ok" or grant is None or grant.provider != "zoom":
        raise _fail(401, 124, INVALID_TOKEN)
    account = state.org.zoom[grant.account]
    return Caller(
        grant,
        account,
        find_zoom_user(account, grant.user_email, True),
        state.knobs.zoom_email_case_sensitive,
    )


def _rate_limit(state: SimulatorState, caller: Caller, category: str) -> dict[str, str]:
    knobs = state.knobs
    show = knobs.zoom_ratelimit_headers
    daily = knobs.zoom_daily_limit.get(category)
    if daily is not None and state.hit_daily(("zoom", caller.account.key, category), daily):
        midnight = floor_day(state.now()) + timedelta(days=1)
        headers = (
            {
                "X-RateLimit-Category": category,
                "X-RateLimit-Type": "Daily-limit",
                "X-RateLimit-Limit": str(daily),
                "X-RateLimit-Remaining": "0",
                "Retry-After": iso(midnight),
            }
            if show
            else {}
        )
        raise _fail(
            429,
            429,
            "You have exceeded the daily rate limit of API requests "
            "permitted for this account. Refer to the response header for "
            "details on when you can make another request.",
            headers,
        )
    limit = knobs.zoom_qps.get(category, 10**6)
    wait = state.hit(("zoom", caller.account.key, category), limit, knobs.zoom_qps_window)
    if wait is not None:
        headers = (
            {
                "X-RateLimit-Category": category,
                "X-RateLimit-Type": "QPS",
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
            }
            if show
            else {}
        )
        if show and knobs.zoom_qps_retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        raise _fail(
            429,
            429,
            "You have reached the maximum per-second rate limit for this API. Try again later.",
            headers,
        )
    return {"X-RateLimit-Category": category, "X-RateLimit-Limit": str(limit)} if show else {}


def _is_self(caller: Caller, user_key: str | None) -> bool:
    if caller.user is None or user_key is None:
        return False
    return user_key in {"me", caller.user.id} or user_key.lower() == caller.user.email.lower()


def _check_scopes(
    caller: Caller, scopes: tuple[list[str], list[str]], user_key: str | None
) -> None:
    """Any one listed scope suffices; user-level scopes only reach the caller's own data."""
    user_level, admin_level = scopes
    granted = set(caller.grant.scopes)
    if granted & set(admin_level):
        return
    own = granted & set(user_level)
    if own and _is_self(caller, user_key) and (own != {"user_info:read"} or user_key == "me"):
        return
    raise _fail(
        400,
        4711,
        "Invalid access token, does not contain scopes:["
        + ", ".join(admin_level + user_level)
        + "]",
    )


def _user(caller: Caller, key: str, list_message: bool = True) -> ZoomUser:
    user = (
        caller.user if key == "me" else find_zoom_user(caller.account, key, caller.case_sensitive)
    )
    if user is None:
        message = (
            f"User {key} not exist or not belong to this account."
            if list_message
            else f"User does not exist: {key}"
        )
        raise _fail(404, 1001, message)
    return user


# ---------------------------------------------------------------- pagination


def _page(
    state: SimulatorState,
    req: Request,
    caller: Caller,
    items: list[dict[str, Any]],
    key: str,
    extra: dict[str, Any] | None = None,
    filters: tuple[Any, ...] = (),
) -> Response:
    raw = req.arg("page_size")
    size = 30
    if raw not in (None, ""):
        if not raw.isdigit():
            raise _fail(400, 300, "Invalid field: page_size.")
        size = min(max(int(raw), 1), 300)  # Zoom caps page_size at 300
    cursor_key = (req.path, caller.account.key, filters, size)
    offset = 0
    token = req.arg("next_page_token")
    if token:
        found = state.take_cursor(token, cursor_key)
        if found is None:
            # Zoom's phone API spec words this as 400 with code 400.
            raise _fail(400, 400, "The next page token is invalid or expired.")
        offset = found
    page = [
        {k: v for k, v in item.items() if not k.startswith("_")}
        for item in items[offset : offset + size]
    ]
    more = offset + size < len(items)
    body = {
        **(extra or {}),
        "next_page_token": state.new_cursor(cursor_key, offset + size) if more else "",
        "page_count": max(1, math.ceil(len(items) / size)),
        "page_number": offset // size + 1,
        "page_size": size,
        "total_records": len(items),
        key: page,
    }
    return Response.json(200, body)


def _parse_day(
    value: str, name: str, end_of_day: bool = False, allow_time: bool = True
) -> datetime:
    """`yyyy-mm-dd` (UTC), or `yyyy-MM-ddTHH:mm:ssZ` where the endpoint allows it."""
    try:
        if "T" in value:
            if not allow_time:
                raise ValueError(value)
            return parse_iso(value).astimezone(UTC)
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise _fail(400, 300, f"Invalid field: {name}.") from exc
    return day + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else day


def _check_month(start: datetime, end: datetime) -> None:
    """`to` may be at most one calendar month after `from` (dates compared, inclusive)."""
    if start > end:
        raise _fail(400, 300, "The from date must be earlier than the to date.")
    if end.date() > add_months(start, 1).date():
        raise _fail(400, 300, "The maximum range can be a month.")


# ------------------------------------------------------------------ handlers


def list_users(state: SimulatorState, req: Request, caller: Caller, _key: str | None) -> Response:
    status = req.arg("status") or "active"
    if status not in {"active", "inactive", "pending"}:
        raise _fail(400, 300, "Invalid field: status.")
    users = [_user_summary(u) for u in caller.account.users if u.status == status]
    return _page(state, req, caller, users, "users", filters=(status,))


def _user_summary(user: ZoomUser) -> dict[str, Any]:
    item = {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": f"{user.first_name} {user.last_name}",
        "type": 2,
        "status": user.status,
        "pmi": user.pmi,
        "timezone": "Europe/Berlin",
        "dept": "",
        "created_at": user.created_at,
        "last_login_time": user.created_at,
        "last_client_version": "6.2.0.46690(mac)",
        "role_id": user.role_id,
        "verified": 1,
        "group_ids": [],
        "im_group_ids": [],
        "language": "en-US",
        "plan_united_type": "1",
    }
    if user.status == "pending":
        del item["id"]  # Zoom returns no id for pending users
    return item


def get_user(state: SimulatorState, req: Request, caller: Caller, key: str) -> Response:
    user = _user(caller, key, list_message=False)
    return Response.json(
        200,
        {
            **_user_summary(user),
            "id": user.id,
            "account_id": caller.account.id,
            "account_number": 1234567,
            "cluster": "us06",
            "cms_user_id": "",
            "company": "Acme",
            "jid": f"{user.id.lower()}@xmpp.zoom.us",
            "job_title": "",
            "location": "",
            "login_types": [101],
            "personal_meeting_url": f"https://acme.zoom.us/j/{user.pmi}",
            "phone_numbers": [],
            "pic_url": "",
            "role_name": "Admin" if user.admin else "Member",
            "use_pmi": False,
            "vanity_url": "",
            "zoom_one_type": 4096,
        },
    )


def user_settings(state: SimulatorState, req: Request, caller: Caller, key: str) -> Response:
    user = _user(caller, key, list_message=False)
    return Response.json(
        200,
        {
            "schedule_meeting": {
                "host_video": True,
                "participants_video": False,
                "audio_type": "both",
                "join_before_host": False,
                "use_pmi_for_scheduled_meetings": False,
            },
            "in_meeting": {
                "e2e_encryption": False,
                "chat": True,
                "private_chat": True,
                "auto_saving_chat": False,
                "file_transfer": True,
            },
            "email_notification": {"jbh_reminder": True, "cancel_meeting_reminder": True},
            "recording": {
                "local_recording": True,
                "cloud_recording": True,
                "auto_recording": "none",
                "auto_delete_cmr": False,
            },
            "telephony": {"third_party_audio": False, "audio_conference_info": ""},
            "feature": {
                "meeting_capacity": 300,
                "large_meeting": False,
                "webinar": caller.account.webinars_enabled,
                "zoom_phone": caller.account.phone_enabled and user.phone_licence,
            },
            "tsp": {"call_out": False, "show_international_numbers_link": False},
            "profile": {"recording_storage_location": {"allowed_values": ["US"], "value": "US"}},
            "audio_conferencing": {"toll_free_and_fee_based_toll_call": {"enable": False}},
        },
    )


def meetings(state: SimulatorState, req: Request, caller: Caller, key: str) -> Response:
    user = _user(caller, key)
    kind = req.arg("type") or "scheduled"
    if kind not in {"scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings"}:
        raise _fail(400, 300, "Invalid field: type.")
    items = []
    for meeting in zoom_meeting_set(user.meetings, kind, state.now()):
        item = dict(meeting)
        item["agenda"] = item["agenda"][:250]  # lists truncate the agenda
        if item["start_time"] is None:
            del item["start_time"]
        items.append(item)
    return _page(state, req, caller, items, "meetings", filters=(user.id, kind))


def webinars(state: SimulatorState, req: Request, caller: Caller, key: str) -> Response:
    user = _user(caller, key)
    if not caller.account.webinars_enabled:
        raise _fail(
            400,
            200,
            "Webinar plan is missing. You must subscribe to the webinar plan "
            "and enable webinar for this user in order to perform this action.",
        )
    kind = req.arg("type") or "scheduled"
    if kind not in {"scheduled", "upcoming"}:
        raise _fail(400, 300, "Invalid field: type.")
    now = state.now()
    items = [
        w
        for w in user.webinars
        if not w["_expired"] and (kind == "scheduled" or parse_iso(w["start_time"]) > now)
    ]
    return _page(state, req, caller, items, "webinars", filters=(user.id, kind))


def recordings(state: SimulatorState, req: Request, caller: Caller, key: str) -> Response:
    user = _user(caller, key)
    today = floor_day(state.now())
    trash = (req.arg("trash") or "false").lower() == "true"
    raw_from, raw_to = req.arg("from"), req.arg("to")
    start = _parse_day(raw_from, "from", allow_time=False) if raw_from else today
    end = _parse_day(raw_to, "to", allow_time=False) if raw_to else start + timedelta(days=1)
    _check_month(start, end)
    last = datetime.combine(end.date(), time.max, UTC)
    items = []
    for rec in user.recordings:
        if rec["_trash"] != trash:
            continue
        if not trash and not (start <= parse_iso(rec["start_time"]) <= last):
            continue  # from/to do not apply to the trash
        items.append({**rec, "account_id": caller.account.id})
    items.sort(key=lambda r: r["start_time"], reverse=True)
    extra = {"from": f"{start:%Y-%m-%d}", "to": f"{end:%Y-%m-%d}"}
    return _page(
        state,
        req,
        caller,
        items,
        "meetings",
        extra,
        filters=(user.id, extra["from"], extra["to"], trash),
    )


def _phone_user(state: SimulatorState, caller: Caller, key: str) -> ZoomUser:
    if not caller.account.phone_enabled:
        raise _fail(403, 2031, "Zoom Phone has not been enabled for this account.")
    if key == "me":
        user = caller.user
    else:
        user = find_zoom_user(caller.account, key, caller.case_sensitive) or next(
            (u for u in caller.account.users if u.phone_user_id == key), None
        )
    if user is None or not user.phone_licence or user.status != "active":
        raise _fail(404, 1001, f"User does not exist: {key}")
    return user


def phone_user(state: SimulatorState, req: Request, caller: Caller, key: str) -> Response:
    user = _phone_user(state, caller, key)
    return Response.json(
        200,
        {
            "id": user.id,
            "phone_user_id": user.phone_user_id,
            "email": user.email,
            "name": f"{user.first_name} {user.last_name}",
            "extension_id": user.phone_user_id[:20],
            "extension_number": user.extension,
            "status": "activate",
            "site_id": "site1",
            "site_admin": user.admin,
            "department": "",
            "cost_center": "",
            "calling_plans": [{"type": 200, "name": "Unlimited Regional"}],
            "phone_numbers": [{"id": f"pn{user.extension}", "number": f"+4989{user.extension}000"}],
            "policy": {},
            "emergency_address": {
                "country": "DE",
                "city": "München",
                "address_line1": "Marienplatz 1",
            },
        },
    )


def phone_settings(state: SimulatorState, req: Request, caller: Caller, key: str) -> Response:
    user = _phone_user(state, caller, key)
    return Response.json(
        200,
        {
            "area_code": "89",
            "audio_prompt_language": "de-DE",
            "default_transcription_language": "de-DE",
            "company_number": "+4989000000",
            "country": {"code": "DE", "country_code": "49", "name": "Germany"},
            "delegation": {"assistants": [], "privacy": False, "privacy_locked": False},
            "desk_phone": {"devices": [], "pc_setting": 0},
            "extension_number": user.extension,
            "music_on_hold_id": "",
            "outbound_caller": {"number": f"+4989{user.extension}000"},
            "outbound_caller_ids": [],
            "status": "Active",
            "voice_mail": [],
            "intercom": {"devices": []},
            "auto_call_recording_access_members": [],
            "ad_hoc_call_recording_access_members": [],
            "shared_lines_call_setting": {},
            "holiday_hours": [],
            "break_hours": [],
            "business_hours_settings": {},
        },
    )


def _phone_window(
    state: SimulatorState, req: Request, default: timedelta, to_required: bool
) -> tuple[datetime, datetime]:
    now = state.now()
    raw_from, raw_to = req.arg("from"), req.arg("to")
    if raw_from and not raw_to and to_required:
        raise _fail(400, 300, "The to parameter is required when from is specified.")
    end = _parse_day(raw_to, "to", end_of_day=True) if raw_to else now
    start = _parse_day(raw_from, "from") if raw_from else end - default
    if raw_from or raw_to:
        _check_month(start, end)
        if start < six_months_floor(now):
            raise _fail(400, 300, "Only data of the last six months can be queried.")
    return start, end


def _history(
    state: SimulatorState,
    req: Request,
    caller: Caller,
    key: str,
    attr: str,
    default: timedelta,
    to_required: bool,
) -> Response:
    user = _phone_user(state, caller, key)
    start, end = _phone_window(state, req, default, to_required)
    now = state.now()
    items = [i for i in getattr(user, attr) if start <= parse_iso(i["date_time"]) <= min(end, now)]
    items.sort(key=lambda i: i["date_time"], reverse=True)
    extra = {"from": f"{start:%Y-%m-%d}", "to": f"{end:%Y-%m-%d}"}
    name = {
        "call_logs": "call_logs",
        "voice_mails": "voice_mails",
        "phone_recordings": "recordings",
    }[attr]
    return _page(
        state,
        req,
        caller,
        items,
        name,
        extra,
        filters=(user.id, iso(start), iso(end), req.arg("type"), req.arg("status")),
    )


HANDLERS: dict[str, Callable[..., Response]] = {
    "list_users": list_users,
    "get_user": get_user,
    "user_settings": user_settings,
    "meetings": meetings,
    "webinars": webinars,
    "recordings": recordings,
    "phone_user": phone_user,
    "phone_settings": phone_settings,
    "call_logs": lambda s, r, c, k: _history(s, r, c, k, "call_logs", timedelta(hours=24), True),
    "voice_mails": lambda s, r, c, k: _history(
        s, r, c, k, "voice_mails", timedelta(days=30), False
    ),
    "phone_recordings": lambda s, r, c, k: _history(
        s, r, c, k, "phone_recordings", timedelta(days=30), False
    ),
}
