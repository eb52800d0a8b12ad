"""Rules shared by the handlers, and the expected answers tests compare a fetch with.

The expected-answer functions walk the seed data directly (not through HTTP or
pagination), so a test that compares a connector's result with them checks the
connector, not the simulator against itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .seed import Organisation, WebexInstance, ZoomAccount, ZoomUser, add_months, floor_day

PARTICIPANT_DELAY = timedelta(minutes=15)  # ended data is ready ~15 minutes after the end


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def instance_state(inst: WebexInstance, now: datetime) -> str:
    return "inProgress" if inst.start <= now < inst.end else "ended"


def visible_participants(inst: WebexInstance, now: datetime) -> list[dict[str, Any]]:
    """Participants the API shows now: live ones while in progress, none until 15 min after."""
    if inst.start > now:
        return []
    if inst.end <= now:
        return list(inst.participants) if now >= inst.end + PARTICIPANT_DELAY else []
    live = []
    for record in inst.participants:
        if parse_iso(record["joinedTime"]) <= now:
            devices = [
                {k: v for k, v in d.items() if k not in {"leftTime", "durationSecond"}}
                for d in record["devices"]
            ]
            live.append(
                {
                    **{k: v for k, v in record.items() if k != "leftTime"},
                    "state": "joined",
                    "devices": devices,
                }
            )
    return live


def norm_email(email: str) -> str:
    return email.strip().lower()


def webex_meetings(
    org: Organisation, email: str, start: datetime, end: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Instances with start in [start, end) where `email` has a participant record.

    Each entry: id, title, start, host_email, subject_is_host (host email matches),
    participant_records (all records), distinct_participants (distinct emails,
    case-insensitive), subject_records, is_1_on_1 (two distinct people, one the subject).
    """
    wanted = norm_email(email)
    found = []
    for inst in org.webex.instances:
        if not (start <= inst.start < end) or inst.start > now:
            continue
        records = visible_participants(inst, now)
        mine = [r for r in records if norm_email(r["email"]) == wanted]
        if not mine:
            continue
        distinct = {norm_email(r["email"]) for r in records}
        found.append(
            {
                "id": inst.id,
                "title": inst.title,
                "start": inst.start,
                "host_email": inst.host.email,
                "subject_is_host": norm_email(inst.host.email) == wanted,
                "participant_records": len(records),
                "distinct_participants": len(distinct),
                "subject_records": len(mine),
                "is_1_on_1": len(distinct) == 2,
            }
        )
    return found


def find_zoom_user(account: ZoomAccount, key: str, case_sensitive: bool) -> ZoomUser | None:
    """`{userId}` lookup: an id or an email (case-insensitive unless the knob says not)."""
    for user in account.users:
        if user.id == key:
            return user
        if (user.email == key) if case_sensitive else (user.email.lower() == key.lower()):
            return user
    return None


def meeting_window(meeting: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    if not meeting["start_time"]:
        return None, None
    start = parse_iso(meeting["start_time"])
    return start, start + timedelta(minutes=meeting["duration"])


def zoom_meeting_set(meetings: list[dict[str, Any]], kind: str, now: datetime) -> list[dict]:
    """Zoom's overlapping list types; instant (type 1) and expired meetings never appear."""
    live, upcoming, previous = [], [], []
    for meeting in meetings:
        if meeting["type"] == 1 or meeting["_expired"]:
            continue
        start, end = meeting_window(meeting)
        if start is None or start > now:
            upcoming.append(meeting)
        elif end is not None and end > now:
            live.append(meeting)
        else:
            previous.append(meeting)
    sets = {
        "scheduled": previous + live + upcoming,
        "live": live,
        "upcoming": live + upcoming,
        "upcoming_meetings": upcoming,
        "previous_meetings": previous,
    }
    return sets[kind]


def six_months_floor(now: datetime) -> datetime:
    """The oldest moment the Zoom Phone history endpoints still reach."""
    return add_months(floor_day(now), -6)


def zoom_counts(
    org: Organisation,
    account_key: str,
    email: str,
    now: datetime,
    lookback_days: int,
    case_sensitive: bool,
) -> dict[str, Any]:
    """What a complete Zoom fetch for `email` must find in one account.

    Keys: found, user_id, settings, meetings (unique ids over all list types),
    webinars (None without the add-on), recordings (cloud, not in trash, start date
    within the lookback), phone_profile, phone_settings, call_logs, voice_mails,
    phone_recordings (None when the account has no Phone or the user no licence;
    history counted within the six-month reach), reasons (why something is None).
    """
    account = org.zoom[account_key]
    user = find_zoom_user(account, email, case_sensitive)
    if user is None:
        return {"found": False, "user_id": None, "reasons": {"user": "not_found"}}
    reasons: dict[str, str] = {}
    oldest_day = (floor_day(now) - timedelta(days=lookback_days)).date()
    recordings = [
        r
        for r in user.recordings
        if not r["_trash"] and oldest_day <= parse_iso(r["start_time"]).date() <= now.date()
    ]
    result: dict[str, Any] = {
        "found": True,
        "user_id": user.id,
        "settings": 1,
        "meetings": len({m["id"] for m in zoom_meeting_set(user.meetings, "scheduled", now)}),
        "webinars": None,
        "recordings": len(recordings),
        "phone_profile": None,
        "phone_settings": None,
        "call_logs": None,
        "voice_mails": None,
        "phone_recordings": None,
        "reasons": reasons,
    }
    if account.webinars_enabled:
        result["webinars"] = len([w for w in user.webinars if not w["_expired"]])
    else:
        reasons["webinars"] = "no_webinar_plan"
    if not account.phone_enabled:
        reasons["phone"] = "phone_not_enabled"
    elif not user.phone_licence:
        reasons["phone"] = "no_phone_licence"
    else:
        floor = six_months_floor(now)

        def reachable(items: list[dict[str, Any]]) -> int:
            return len([i for i in items if floor <= parse_iso(i["date_time"]) <= now])

        result.update(
            phone_profile=1,
            phone_settings=1,
            call_logs=reachable(user.call_logs),
            voice_mails=reachable(user.voice_mails),
            phone_recordings=reachable(user.phone_recordings),
        )
    return result
