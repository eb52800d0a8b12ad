"""Webex REST API v1: people, meetings, participants, preferences, authorizations."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .http import WEBEX_401, WEBEX_403_SCOPE, Request, Response, webex_error
from .seed import WEBEX_SITE, Person, WebexInstance, WebexSeries, iso
from .state import Grant, SimulatorState, fingerprint
from .truth import instance_state, norm_email, parse_iso, visible_participants

MEETING_TYPES = {"meetingSeries", "scheduledMeeting", "meeting"}
MEETING_STATES = {
    "active",
    "scheduled",
    "ready",
    "lobby",
    "inProgress",
    "ended",
    "missed",
    "expired",
}
WEEK = timedelta(days=7)


class WebexFailure(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class Caller:
    def __init__(self, grant: Grant, person: Person, token: str) -> None:
        self.grant, self.person, self.token = grant, person, token

    def has(self, *scopes: str) -> bool:
        return any(scope in self.grant.scopes for scope in scopes)

    def admin(self, scope: str) -> bool:
        """Admin scopes count only for a user who actually holds an admin role."""
        return self.person.admin and scope in self.grant.scopes


def authenticate(state: SimulatorState, req: Request) -> Caller:
    token = req.bearer()
    if token is None:
        raise WebexFailure(webex_error(401, WEBEX_401))
    status, grant = state.token_status(token)
    if status != "ok" or grant is None or grant.provider != "webex":
        raise WebexFailure(webex_error(401, WEBEX_401))
    wait = state.hit(
        ("webex", fingerprint(token)),
        state.knobs.webex_rate_per_minute,
        state.knobs.webex_rate_window,
    )
    if wait is not None:
        raise WebexFailure(
            webex_error(429, "Too Many Requests", {"Retry-After": str(max(1, math.ceil(wait)))})
        )
    person = state.org.webex.people.get(grant.user_email.lower())
    if person is None:
        raise WebexFailure(webex_error(401, WEBEX_401))
    return Caller(grant, person, token)


def handle(state: SimulatorState, req: Request, sub: str) -> Response:
    routes: dict[tuple[str, str], Callable[[SimulatorState, Request, Caller], Response]] = {
        ("GET", "/people/me"): people_me,
        ("GET", "/meetings"): list_meetings,
        ("GET", "/meetingParticipants"): list_participants,
        ("POST", "/meetingParticipants/query"): query_participants,
        ("GET", "/meetingPreferences"): meeting_preferences,
        ("DELETE", "/authorizations"): delete_authorizations,
    }
    handler = routes.get((req.method, sub))
    if handler is None:
        if any(path == sub for _, path in routes):
            return webex_error(405, "Method Not Allowed")
        return webex_error(404, "The requested resource could not be found.")
    try:
        caller = authenticate(state, req)
        with state.lock:
            return handler(state, req, caller)
    except WebexFailure as failure:
        return failure.response


def _forbidden() -> WebexFailure:
    return WebexFailure(webex_error(403, WEBEX_403_SCOPE))


def _bad(message: str) -> WebexFailure:
    return WebexFailure(webex_error(400, message))


# ------------------------------------------------------------------ helpers


def _tz(req: Request) -> Any:
    name = req.headers.get("timezone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _bad(f"Invalid timezone: {name}") from exc


def _when(req: Request, name: str, tz: Any) -> datetime | None:
    value = req.arg(name)
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad(f"Invalid value for {name}: {value}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def _window(req: Request, tz: Any, now: datetime, past: bool, prefix: str = "") -> tuple:
    start, end = _when(req, f"{prefix}from", tz), _when(req, f"{prefix}to", tz)
    if start is None and end is None:
        start, end = (now - WEEK, now) if past else (now, now + WEEK)
    elif start is None:
        start = end - WEEK
    elif end is None:
        end = start + WEEK
    if start >= end:
        raise _bad("'from' must be before 'to'.")
    return start, end


def _max(req: Request) -> int:
    raw = req.arg("max")
    if raw is None:
        return 10
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise _bad(f"Invalid value for max: {raw}. It must be an integer between 1 and 100.")
    return int(raw)


def _page(
    state: SimulatorState, req: Request, items: list[dict[str, Any]], link_path: str
) -> Response:
    """One page of `items` with an RFC 5988 `Link: <...>; rel="next"` when more remain."""
    size = _max(req)
    cursor = req.arg("cursor")
    offset = 0
    if cursor:
        try:
            offset = int(base64.urlsafe_b64decode(cursor + "==").decode())
        except ValueError as exc:
            raise _bad("Invalid cursor.") from exc
    page = items[offset : offset + size]
    headers = {}
    if offset + size < len(items):
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode().rstrip("=")
        if state.knobs.webex_link_defects:
            params = [("max", "null"), ("cursor", token)]
        else:
            params = [
                (k, v)
                for k, values in req.query.items()
                if k not in {"max", "cursor"}
                for v in values
            ] + [("max", str(size)), ("cursor", token)]
        headers["Link"] = f'<{req.base_url}/webex/v1{link_path}?{urlencode(params)}>; rel="next"'
    return Response.json(200, {"items": page}, headers)


# ------------------------------------------------------------------- people


def people_me(state: SimulatorState, req: Request, caller: Caller) -> Response:
    if state.knobs.webex_people_me_requires_scope and not caller.has("spark:people_read"):
        raise _forbidden()
    p = caller.person
    anchor = state.org.anchor
    return Response.json(
        200,
        {
            "id": p.id,
            "emails": [p.email],
            "phoneNumbers": [],
            "displayName": p.display_name,
            "nickName": p.first_name,
            "firstName": p.first_name,
            "lastName": p.last_name,
            "orgId": state.org.webex.org_id,
            "roles": ["Y2lzY29zcGFyazovL3VzL1JPTEUvaWRfZnVsbF9hZG1pbg"] if p.admin else [],
            "licenses": [],
            "created": iso(anchor - timedelta(days=900)),
            "lastModified": iso(anchor - timedelta(days=30)),
            "timezone": "Europe/Berlin",
            "lastActivity": iso(anchor),
            "siteUrls": [f"{WEBEX_SITE}#attendee"],
            "status": "unknown",
            "type": "person",
        },
    )


# ------------------------------------------------------------------ meetings


def _meeting(
    inst_or_series: WebexInstance | WebexSeries,
    *,
    id: str,
    mtype: str,
    state: str,
    start: datetime,
    end: datetime,
    hidden_number: bool = False,
) -> dict[str, Any]:
    host = inst_or_series.host
    number = inst_or_series.meeting_number
    series_id = (
        inst_or_series.series_id if isinstance(inst_or_series, WebexInstance) else inst_or_series.id
    )
    item: dict[str, Any] = {
        "id": id,
        "meetingSeriesId": series_id,
        "title": inst_or_series.title,
        "agenda": "",
        "password": "Pa55" + number[-4:],
        "phoneAndVideoSystemPassword": number[-8:],
        "meetingType": mtype,
        "state": state,
        "timezone": "UTC",
        "start": iso(start),
        "end": iso(end),
        "hostUserId": host.id,
        "hostDisplayName": host.display_name,
        "hostEmail": host.email,
        "hostKey": number[-6:],
        "siteUrl": WEBEX_SITE,
        "webLink": f"https://{WEBEX_SITE}/acme/j.php?MTID=m{series_id}",
        "sipAddress": f"{number}@{WEBEX_SITE}",
        "dialInIpAddress": "173.243.2.68",
        "scheduledType": "meeting",
        "enabledBreakoutSessions": False,
        "enabledAutoRecordMeeting": False,
        "allowAnyUserToBeCoHost": False,
        "enabledJoinBeforeHost": False,
        "publicMeeting": False,
        "telephony": {
            "accessCode": number,
            "callInNumbers": [
                {"label": "Germany toll", "callInNumber": "+49-6196-7819736", "tollType": "toll"}
            ],
        },
    }
    if not hidden_number:
        item["meetingNumber"] = number
    if isinstance(inst_or_series, WebexInstance):
        item["scheduledMeetingId"] = f"{series_id}_{inst_or_series.start:%Y%m%dT%H%M%SZ}"
        item["hostDidJoin"] = any(p["host"] for p in inst_or_series.participants)
        item["attendeeDidJoin"] = any(not p["host"] for p in inst_or_series.participants)
    elif inst_or_series.recurrence:
        item["recurrence"] = inst_or_series.recurrence
    return item


def _involves(host: Person, invitees: list[str], email: str) -> bool:
    wanted = norm_email(email)
    return norm_email(host.email) == wanted or wanted in {norm_email(i) for i in invitees}


def list_meetings(state: SimulatorState, req: Request, caller: Caller) -> Response:
    if not caller.has("meeting:schedules_read", "meeting:admin_schedule_read"):
        raise _forbidden()
    mtype = req.arg("meetingType") or "meetingSeries"
    if mtype not in MEETING_TYPES:
        raise _bad(f"Invalid meetingType: {mtype}")
    wanted_state = req.arg("state")
    if wanted_state is not None and wanted_state not in MEETING_STATES:
        raise _bad(f"Invalid state: {wanted_state}")
    exclusive = [n for n in ("meetingNumber", "webLink", "roomId") if req.arg(n)]
    if len(exclusive) > 1:
        raise _bad("meetingNumber, webLink and roomId cannot be used together.")
    now = state.now()
    tz = _tz(req)
    start, end = _window(req, tz, now, past=(mtype == "meeting"))
    admin = caller.admin("meeting:admin_schedule_read")
    host_email = req.arg("hostEmail") if admin else None  # ignored without admin scope + role
    subject = host_email or caller.person.email
    org_wide = admin and host_email is None and mtype == "meeting"
    series_id = req.arg("meetingSeriesId")
    number = req.arg("meetingNumber")
    items: list[dict[str, Any]] = []
    if mtype == "meeting":
        for inst in state.org.webex.instances:
            if not (start <= inst.start < end) or inst.start > now:
                continue
            if not org_wide and not _involves(inst.host, inst.invitees, subject):
                continue
            if series_id and inst.series_id != series_id:
                continue
            if number and inst.meeting_number != number:
                continue
            inst_state = instance_state(inst, now)
            if wanted_state and wanted_state != inst_state:
                continue
            items.append(
                _meeting(
                    inst,
                    id=inst.id,
                    mtype="meeting",
                    state=inst_state,
                    start=inst.start,
                    end=inst.end,
                    hidden_number=inst_state == "ended",
                )
            )
            if len(items) >= state.knobs.webex_instance_cap:
                break
    else:
        for series in state.org.webex.series.values():
            if not _involves(series.host, series.invitees, subject):
                continue
            if series_id and series.id != series_id:
                continue
            if number and series.meeting_number != number:
                continue
            hits = [s for s in series.occurrences if s < end and s + series.duration > start]
            if not hits:
                continue
            if mtype == "meetingSeries":
                future = any(s > now for s in series.occurrences)
                sstate = "active" if future else "expired"
                if wanted_state and wanted_state != sstate:
                    continue
                first = series.occurrences[0]
                items.append(
                    _meeting(
                        series,
                        id=series.id,
                        mtype="meetingSeries",
                        state=sstate,
                        start=first,
                        end=first + series.duration,
                    )
                )
                continue
            for occ in hits:
                ostate = "scheduled" if occ > now else "ended"
                if wanted_state and wanted_state != ostate:
                    continue
                items.append(
                    _meeting(
                        series,
                        id=f"{series.id}_{occ:%Y%m%dT%H%M%SZ}",
                        mtype="scheduledMeeting",
                        state=ostate,
                        start=occ,
                        end=occ + series.duration,
                    )
                )
        items.sort(key=lambda item: (item["start"], item["id"]))
    return _page(state, req, items, "/meetings")


# -------------------------------------------------------------- participants


def _resolve_instance(
    state: SimulatorState, req: Request, meeting_id: str, now: datetime
) -> WebexInstance:
    """An instance id, or a series/occurrence id meaning its last started instance."""
    org = state.org.webex
    for inst in org.instances:
        if inst.id == meeting_id:
            if inst.start > now:
                break
            return inst
    series_id, _, occurrence = meeting_id.partition("_")
    if series_id in org.series:
        tz = _tz(req)
        to = _when(req, "meetingStartTimeTo", tz)
        frm = _when(req, "meetingStartTimeFrom", tz)
        to = to or min((frm + timedelta(days=31)) if frm else now, now)
        frm = frm or to - timedelta(days=31)
        candidates = [
            i
            for i in org.instances
            if i.series_id == series_id and frm <= i.start < to and i.start <= now
        ]
        if occurrence:
            candidates = [i for i in candidates if f"{i.start:%Y%m%dT%H%M%SZ}" == occurrence]
        if candidates:
            return candidates[-1]
    raise WebexFailure(
        webex_error(
            404,
            "Meeting not found or not yet started.",
        )
    )


def _check_participant_access(caller: Caller, inst: WebexInstance) -> None:
    if caller.admin("meeting:admin_participants_read"):
        return
    is_host = norm_email(inst.host.email) == norm_email(caller.person.email)
    if is_host and caller.has("meeting:participants_read", "meeting:admin_participants_read"):
        return
    raise _forbidden()


def _join_window(get: Callable[[str], datetime | None]) -> tuple | None:
    frm, to = get("joinTimeFrom"), get("joinTimeTo")
    if frm is None and to is None:
        return None
    frm = frm or to - WEEK
    to = to or frm + WEEK
    if frm >= to:
        raise _bad("joinTimeFrom must be before joinTimeTo.")
    if to - frm > timedelta(days=90):
        raise _bad("The interval between joinTimeFrom and joinTimeTo must be within 90 days.")
    return frm, to


def _joined_in(records: list[dict[str, Any]], window: tuple | None) -> list[dict[str, Any]]:
    if window is None:
        return records
    return [r for r in records if window[0] <= parse_iso(r["joinedTime"]) < window[1]]


def _with_org(
    records: list[dict[str, Any]], inst: WebexInstance, now: datetime, org_id: str
) -> list[dict[str, Any]]:
    if instance_state(inst, now) == "inProgress":
        return [{**r, "orgId": org_id} for r in records]
    return records


def list_participants(state: SimulatorState, req: Request, caller: Caller) -> Response:
    meeting_id = req.arg("meetingId")
    if not meeting_id:
        raise _bad("meetingId is required.")
    now = state.now()
    inst = _resolve_instance(state, req, meeting_id, now)
    _check_participant_access(caller, inst)
    tz = _tz(req)
    window = _join_window(lambda name: _when(req, name, tz))
    records = _joined_in(visible_participants(inst, now), window)
    return _page(
        state, req, _with_org(records, inst, now, state.org.webex.org_id), "/meetingParticipants"
    )


def query_participants(state: SimulatorState, req: Request, caller: Caller) -> Response:
    meeting_id = req.arg("meetingId")
    if not meeting_id:
        raise _bad("meetingId is required.")
    try:
        body = req.json() or {}
    except ValueError as exc:
        raise _bad("The request body is not valid JSON.") from exc
    emails = body.get("emails") if isinstance(body, dict) else None
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        raise _bad("emails must be a list of email addresses.")
    now = state.now()
    inst = _resolve_instance(state, req, meeting_id, now)
    _check_participant_access(caller, inst)
    tz = _tz(req)

    def from_body(name: str) -> datetime | None:
        value = body.get(name)
        if not value:
            return None
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise _bad(f"Invalid value for {name}.") from exc
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)

    window = _join_window(from_body)
    wanted = set(emails)  # exact match: see the package docstring
    records = [
        r for r in _joined_in(visible_participants(inst, now), window) if r["email"] in wanted
    ]
    return Response.json(200, {"items": _with_org(records, inst, now, state.org.webex.org_id)})


# --------------------------------------------------------------- preferences


def meeting_preferences(state: SimulatorState, req: Request, caller: Caller) -> Response:
    target = caller.person
    user_email = req.arg("userEmail")
    if user_email:
        if not caller.admin("meeting:admin_preferences_read"):
            raise _forbidden()
        found = state.org.webex.people.get(user_email.lower())
        if found is None:
            raise WebexFailure(webex_error(404, "User not found."))
        target = found
    elif not caller.has("meeting:preferences_read", "meeting:admin_preferences_read"):
        raise _forbidden()
    room = target.email.split("@")[0].lower().replace(".", "")
    return Response.json(
        200,
        {
            "audio": {
                "defaultAudioType": "webexAudio",
                "otherTeleconferenceDescription": "",
                "enabledGlobalCallIn": True,
                "enabledTollFree": False,
                "enabledAutoConnection": False,
                "audioPin": "1314",
                "officeNumber": {
                    "countryCode": "49",
                    "number": "8912345678",
                    "enabledCallInAuthentication": False,
                    "enabledCallMe": False,
                },
                "mobileNumber": {
                    "countryCode": "49",
                    "number": "17012345678",
                    "enabledCallInAuthentication": False,
                    "enabledCallMe": False,
                },
            },
            "video": {
                "videoDevices": [
                    {
                        "deviceName": "Desk Pro",
                        "deviceAddress": f"{room}@acme.example",
                        "isDefault": True,
                    }
                ]
            },
            "schedulingOptions": {
                "enabledJoinBeforeHost": False,
                "joinBeforeHostMinutes": 0,
                "enabledAutoShareRecording": False,
                "enabledWebexAssistantByDefault": False,
                "delegateEmails": [],
            },
            "sites": [{"siteUrl": WEBEX_SITE, "default": True}],
            "personalMeetingRoom": {
                "topic": f"{target.display_name}'s Personal Room",
                "hostPin": "4321",
                "personalMeetingRoomLink": f"https://{WEBEX_SITE}/meet/{room}",
                "enabledAutoLock": False,
                "autoLockMinutes": 0,
                "enabledNotifyHost": True,
                "supportCoHost": False,
                "sipAddress": f"{room}@{WEBEX_SITE}",
                "dialInIpAddress": "173.243.2.68",
                "coHosts": [],
                "telephony": {
                    "accessCode": "1234567890",
                    "callInNumbers": [],
                    "links": {
                        "rel": "globalCallinNumbers",
                        "href": "/api/v1/meetingPreferences/globalCallinNumbers",
                        "method": "GET",
                    },
                },
            },
        },
    )


# ------------------------------------------------------------ authorizations


def delete_authorizations(state: SimulatorState, req: Request, caller: Caller) -> Response:
    """DELETE /authorizations?clientId=: revoke every grant of that client in the org."""
    if not caller.admin("identity:tokens_write"):
        raise _forbidden()
    client_id = req.arg("clientId")
    if not client_id:
        raise _bad("clientId is required.")
    for grant in state.grants.values():
        if grant.provider == "webex" and grant.client_id == client_id:
            grant.revoked = True
    return Response(204)
