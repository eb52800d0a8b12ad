"""The seeded organisation: Webex people and meetings, Zoom accounts and users.

Everything is built from one `random.Random(seed)` and an anchor (the reset time
floored to the day, UTC), so a given seed gives the same data all day long.
"""

from __future__ import annotations

import base64
import functools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WEBEX_SITE = "acme-example.webex.com"
SUBJECT_EMAIL = "dana.kowalski@acme.example"  # how requests name the subject
SUBJECT_STORED_EMAIL = "Dana.Kowalski@Acme.example"  # how both providers store it
SUBJECT_SHOUTED_EMAIL = "DANA.KOWALSKI@ACME.EXAMPLE"  # one Webex record uses this
UNKNOWN_EMAIL = "nobody.known@unknown.example"
WEBEX_ADMIN_EMAIL = "Ada.Admin@acme.example"
WEBEX_USER_EMAIL = "Nina.Nutzer@acme.example"  # a non-admin who hosts meetings
ZOOM_FULL_ADMIN_EMAIL = "Olga.Owner@acme.example"
ZOOM_BASIC_ADMIN_EMAIL = "Bea.Basic@basic.example"
ZOOM_NO_PHONE_EMAIL = "Sam.Nophone@acme.example"
ZOOM_INACTIVE_EMAIL = "Ivan.Inactive@acme.example"
ZOOM_PENDING_EMAIL = "Paula.Pending@acme.example"
ZOOM_BASIC_SUBJECT_EMAIL = "dana.KOWALSKI@acme.example"  # same subject, other case


@dataclass(frozen=True)
class DemoClient:
    provider: str
    client_id: str
    client_secret: str
    account: str  # Webex org key or Zoom account key
    user_email: str  # who authorises in the auto-approve flow
    scopes: tuple[str, ...]  # registered (Webex) or configured (Zoom) scopes


WEBEX_SCOPES = (
    "spark:kms",
    "spark:people_read",
    "meeting:schedules_read",
    "meeting:admin_schedule_read",
    "meeting:participants_read",
    "meeting:admin_participants_read",
    "meeting:preferences_read",
    "meeting:admin_preferences_read",
    "identity:tokens_read",
    "identity:tokens_write",
)
ZOOM_GRANULAR_SCOPES = (
    "user:read:user:admin",
    "user:read:settings:admin",
    "group:read:group:admin",
    "meeting:read:list_meetings:admin",
    "webinar:read:list_webinars:admin",
    "cloud_recording:read:list_user_recordings:admin",
    "phone:read:user:admin",
    "phone:read:user_setting:admin",
    "phone:read:list_recordings:admin",
    "phone:read:list_voicemails:admin",
    "phone:read:list_call_logs:admin",
)
ZOOM_CLASSIC_SCOPES = (
    "meeting:read:admin",
    "webinar:read:admin",
    "group:read:admin",
    "imgroup:read:admin",
    "user:read:admin",
    "recording:read:admin",
    "phone:read:admin",
)

DEMO_CLIENTS: tuple[DemoClient, ...] = (
    DemoClient(
        "webex",
        "C0ffee5im0000000000000000000000000000000000000000000000000000000001",
        "simwebexsecret0001",
        "acme",
        WEBEX_ADMIN_EMAIL,
        WEBEX_SCOPES,
    ),
    DemoClient(
        "zoom",
        "SimZoomFullClient01",
        "simzoomfullsecret0001",
        "full",
        ZOOM_FULL_ADMIN_EMAIL,
        ZOOM_GRANULAR_SCOPES,
    ),
    DemoClient(
        "zoom",
        "SimZoomBasicClient2",
        "simzoombasicsecret002",
        "basic",
        ZOOM_BASIC_ADMIN_EMAIL,
        ZOOM_CLASSIC_SCOPES,
    ),
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar month arithmetic, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    days = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class _Ids:
    """Deterministic id factory in the providers' formats."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def hex32(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def uuid(self) -> str:
        h = self.hex32()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def spark(self, kind: str) -> str:
        raw = f"ciscospark://us/{kind}/{self.uuid()}".encode()
        return base64.b64encode(raw).decode().rstrip("=")

    def zoom_user(self) -> str:
        raw = self.rng.getrandbits(128).to_bytes(16, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def zoom_uuid(self) -> str:
        return base64.b64encode(self.rng.getrandbits(128).to_bytes(16, "big")).decode()

    def digits(self, n: int) -> int:
        return self.rng.randint(10 ** (n - 1), 10**n - 1)


FIRST = [
    "Anna",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eva",
    "Farid",
    "Greta",
    "Hiro",
    "Inès",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Noor",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Søren",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Xavier",
    "Yara",
    "Zoltán",
]
LAST = [
    "Müller",
    "Nakamura",
    "O'Brien",
    "Petrović",
    "Quist",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Uribe",
    "Vasquez",
    "Weiß",
    "Xu",
    "Yilmaz",
    "Zhou",
    "Andersen",
    "Brown",
    "Çelik",
]
TOPICS = [
    "Weekly sync",
    "Design review",
    "Budget <b>FY27</b>",
    "Customer call: Ünal GmbH",
    "Retro & planning",
    "Hiring panel",
    "Incident review",
    "1:1 catch-up",
    '=HYPERLINK("http://evil.example","Click")',
    "Roadmap <script>alert(1)</script>",
    "+SUM(A1:A9) budget",
    "Offsite \u2013 東京",
    "@cmd|' /C calc'!A0",
    "Quarterly review",
]


@dataclass
class Person:
    id: str
    email: str
    display_name: str
    first_name: str
    last_name: str
    admin: bool = False


@dataclass
class WebexInstance:
    """One ended or in-progress meeting instance, with its participant records."""

    id: str
    series_id: str
    title: str
    start: datetime
    end: datetime
    host: Person
    invitees: list[str]
    participants: list[dict[str, Any]]
    meeting_number: str
    scheduled_type: str = "meeting"


@dataclass
class WebexSeries:
    """A meeting series: its past instances and future scheduled occurrences."""

    id: str
    title: str
    host: Person
    invitees: list[str]
    meeting_number: str
    occurrences: list[datetime]
    duration: timedelta
    recurrence: str | None = None


@dataclass
class WebexOrg:
    org_id: str
    people: dict[str, Person]  # lowercased email -> person
    instances: list[WebexInstance]
    series: dict[str, WebexSeries]


@dataclass
class ZoomUser:
    id: str
    email: str
    first_name: str
    last_name: str
    status: str = "active"
    role_id: str = "2"
    admin: bool = False
    phone_licence: bool = True
    pmi: int = 0
    created_at: str = ""
    meetings: list[dict[str, Any]] = field(default_factory=list)
    webinars: list[dict[str, Any]] = field(default_factory=list)
    recordings: list[dict[str, Any]] = field(default_factory=list)
    call_logs: list[dict[str, Any]] = field(default_factory=list)
    voice_mails: list[dict[str, Any]] = field(default_factory=list)
    phone_recordings: list[dict[str, Any]] = field(default_factory=list)
    phone_user_id: str = ""
    extension: int = 0


@dataclass
class ZoomAccount:
    key: str
    id: str
    name: str
    phone_enabled: bool
    webinars_enabled: bool
    users: list[ZoomUser]


@dataclass
class Organisation:
    anchor: datetime
    webex: WebexOrg
    zoom: dict[str, ZoomAccount]


BENCH_SUBJECT_EMAIL = "bench.subject{:02d}@acme.example"  # people of the extra instances
BENCH_SUBJECT_MEETINGS = 20  # each bench subject took part in about this many


@functools.lru_cache(maxsize=4)
def build(
    seed: int,
    anchor: datetime,
    extra_instances: int = 0,
    extra_subjects: int = 0,
    extra_call_logs: int = 0,
) -> Organisation:
    """Build the whole organisation; deterministic for its arguments.

    ``extra_instances`` adds that many ended Webex instances over the last 365 days
    (for benchmarks of large organisations) and ``extra_subjects`` people
    (``BENCH_SUBJECT_EMAIL``) who each took part in about ``BENCH_SUBJECT_MEETINGS``
    of them; ``extra_call_logs`` adds that many Zoom Phone call logs of the subject
    (account "full") over the last six months. Each comes from its own random source,
    so the base data is unchanged.
    Cached, because tests reset before every test: the result is shared and must be
    treated as read-only (handlers never change it; per-run state lives in the state).
    """
    rng = random.Random(seed)  # noqa: S311 - deterministic test data, not secrets
    ids = _Ids(rng)
    webex = _build_webex(rng, ids, anchor)
    organisation = Organisation(anchor, webex, _build_zoom(rng, ids, anchor))
    if extra_instances:
        _add_webex_instances(seed, anchor, webex, extra_instances, extra_subjects)
    if extra_call_logs:
        _add_zoom_call_logs(seed, anchor, organisation.zoom["full"], extra_call_logs)
    return organisation


def _add_webex_instances(
    seed: int, anchor: datetime, webex: WebexOrg, count: int, subjects: int
) -> None:
    rng = random.Random(seed + 1)  # noqa: S311 - deterministic test data, not secrets
    ids = _Ids(rng)
    builder = _WebexBuilder(rng, ids, anchor)
    bench = [
        _person(ids, BENCH_SUBJECT_EMAIL.format(i), "Bench", f"Subject{i:02d}")
        for i in range(subjects)
    ]
    webex.people.update({p.email.lower(): p for p in bench})
    pool = [p for p in webex.people.values() if p not in bench]
    pool.sort(key=lambda p: p.email)
    share = min(1.0, BENCH_SUBJECT_MEETINGS / count) if count else 0.0
    for _ in range(count):
        host = rng.choice(pool)
        size = rng.choice([2, 2, 3, 4, 5, 6, 8])
        members = [host, *rng.sample([p for p in pool if p is not host], size - 1)]
        members += [b for b in bench if rng.random() < share]
        # Ended at least an hour and a quarter ago: participants are listed by then.
        start = anchor - timedelta(minutes=rng.randint(120, 364 * 1440))
        builder.instance(rng.choice(TOPICS), start.replace(second=0), host, members)
    webex.instances.extend(builder.instances)
    webex.instances.sort(key=lambda inst: (inst.start, inst.id))
    webex.series.update(builder.all_series)


# --------------------------------------------------------------------------- Webex


def _person(ids: _Ids, email: str, first: str, last: str, admin: bool = False) -> Person:
    return Person(ids.spark("PEOPLE"), email, f"{first} {last}", first, last, admin)


def _build_webex(rng: random.Random, ids: _Ids, anchor: datetime) -> WebexOrg:
    org_id = ids.spark("ORGANIZATION")
    named = [
        _person(ids, WEBEX_ADMIN_EMAIL, "Ada", "Admin", admin=True),
        _person(ids, SUBJECT_STORED_EMAIL, "Dana", "Kowalski"),
        _person(ids, WEBEX_USER_EMAIL, "Nina", "Nutzer"),
        _person(ids, "bjorn.ostergaard@acme.example", "Björn", "Østergaard"),
        _person(ids, "Zoe.Lefevre@acme.example", "Zoë", "Lefèvre"),
        _person(ids, "li.wei@acme.example", "伟", "李"),
        _person(ids, "jose.alvarez@acme.example", "José", "Álvarez"),
    ]
    crowd = [
        _person(ids, f"{f}.{ln}{i}@acme.example".replace("'", "").lower(), f, ln)
        for i, (f, ln) in enumerate((rng.choice(FIRST), rng.choice(LAST)) for _ in range(260))
    ]
    people = {p.email.lower(): p for p in named + crowd}
    admin, subject, nina, bjorn, zoe, li, jose = named
    builder = _WebexBuilder(rng, ids, anchor)
    day = timedelta(days=1)
    at = lambda days, hour=10: anchor - days * day + timedelta(hours=hour)  # noqa: E731

    # The hard cases the fetcher tests rely on (see the package docstring).
    builder.instance("Dana's planning <b>Q3</b>", at(200), subject, [subject, bjorn, zoe, li, jose])
    builder.instance(
        "Dana hosts, Dana absent", at(150, 14), subject, [bjorn, zoe, li], host_joins=False
    )
    builder.instance("Partner update", at(20), bjorn, [bjorn, subject, zoe, li, jose])
    rejoin = builder.instance("Dropped and rejoined", at(45), zoe, [zoe, subject, li])
    rejoin.participants.append(builder.participant(rejoin, subject, at(45) + timedelta(minutes=20)))
    builder.instance("Dana alone", at(90), subject, [subject])
    builder.instance("1:1 Dana / Zoë", at(10), zoe, [zoe, subject])
    builder.instance("1:1 Dana / Björn", at(300), subject, [subject, bjorn])
    builder.instance("1:1 Björn / Li", at(12), bjorn, [bjorn, li])
    builder.instance("1:1 Nina / José", at(33), nina, [nina, jose])
    builder.instance("All hands", at(3), admin, [admin, *crowd[:150], subject, *crowd[150:160]])
    big = builder.instance(
        "Town hall \u2013 全员大会", at(150), admin, [admin, *crowd[:230], subject]
    )
    big.participants[-1]["email"] = SUBJECT_SHOUTED_EMAIL
    builder.instance('=HYPERLINK("http://evil.example","Click")', at(60), li, [li, subject, jose])
    builder.instance("Old kickoff (13 months ago)", at(395), bjorn, [bjorn, subject, zoe])
    builder.instance("Nina's team sync", at(5), nina, [nina, zoe, li])
    builder.instance("Incident bridge (all day)", anchor, admin, [admin, subject, li], minutes=1440)

    # A weekly series hosted by the subject: past instances and upcoming occurrences.
    builder.series("Dana's weekly <i>stand-up</i>", subject, [subject, zoe, li], anchor, weeks=30)
    builder.series(
        "Nina's fortnightly review", nina, [nina, subject, jose], anchor, weeks=12, step=2
    )
    builder.upcoming("Future board prep", admin, [admin, subject], anchor + 3 * day)
    builder.upcoming("Future offsite", bjorn, [bjorn, zoe], anchor + 20 * day)

    # Background traffic spread over 13 months, to make many pages.
    pool = named[2:] + crowd[:80]
    for _ in range(380):
        host = rng.choice(pool)
        size = rng.choice([2, 2, 3, 4, 5, 6, 8, 12])
        members = [host, *rng.sample([p for p in pool if p is not host], size - 1)]
        if rng.random() < 0.08:
            members.append(subject)
        start = anchor - timedelta(minutes=rng.randint(60, 395 * 1440))
        builder.instance(rng.choice(TOPICS), start.replace(second=0), host, members)
    builder.instances.sort(key=lambda inst: (inst.start, inst.id))
    return WebexOrg(org_id, people, builder.instances, builder.all_series)


class _WebexBuilder:
    def __init__(self, rng: random.Random, ids: _Ids, anchor: datetime) -> None:
        self.rng, self.ids, self.anchor = rng, ids, anchor
        self.instances: list[WebexInstance] = []
        self.all_series: dict[str, WebexSeries] = {}

    def instance(
        self,
        title: str,
        start: datetime,
        host: Person,
        members: list[Person],
        minutes: int = 45,
        host_joins: bool = True,
        series: WebexSeries | None = None,
    ) -> WebexInstance:
        if series is None:
            series = WebexSeries(
                self.ids.hex32(),
                title,
                host,
                [m.email for m in members],
                str(self.ids.digits(10)),
                [start],
                timedelta(minutes=minutes),
            )
            self.all_series[series.id] = series
        inst = WebexInstance(
            id=f"{self.ids.hex32()}_I_{self.ids.digits(18)}",
            series_id=series.id,
            title=title,
            start=start,
            end=start + timedelta(minutes=minutes),
            host=host,
            invitees=[m.email for m in members if m is not host],
            participants=[],
            meeting_number=series.meeting_number,
        )
        for offset, person in enumerate(members):
            if person is host and not host_joins:
                continue
            inst.participants.append(
                self.participant(inst, person, start + timedelta(seconds=offset))
            )
        self.instances.append(inst)
        return inst

    def participant(self, inst: WebexInstance, person: Person, joined: datetime) -> dict[str, Any]:
        left = min(joined + timedelta(minutes=self.rng.randint(5, 40)), inst.end)
        return {
            "id": f"{inst.id.split('_I_')[0]}_{self.ids.uuid()}",
            "host": person is inst.host,
            "coHost": False,
            "spaceModerator": False,
            "email": person.email,
            "displayName": person.display_name,
            "invitee": person is not inst.host and person.email in inst.invitees,
            "muted": self.rng.random() < 0.5,
            "meetingStartTime": iso(inst.start),
            "video": self.rng.choice(["on", "off"]),
            "state": "end",
            "joinedTime": iso(joined),
            "leftTime": iso(left),
            "siteUrl": WEBEX_SITE,
            "meetingId": inst.id,
            "hostEmail": inst.host.email,
            "devices": [
                {
                    "correlationId": self.ids.uuid(),
                    "deviceType": self.rng.choice(
                        ["webex_meeting_center_mac", "webex_meeting_center_win", "tp_endpoint"]
                    ),
                    "audioType": self.rng.choice(["voip", "pstn"]),
                    "joinedTime": iso(joined),
                    "leftTime": iso(left),
                    "durationSecond": int((left - joined).total_seconds()),
                    "callType": "callIn",
                }
            ],
        }

    def series(
        self,
        title: str,
        host: Person,
        members: list[Person],
        anchor: datetime,
        weeks: int,
        step: int = 1,
    ) -> WebexSeries:
        first = anchor - timedelta(weeks=weeks - 4) + timedelta(hours=9)
        starts = [first + timedelta(weeks=w) for w in range(0, weeks, step)]
        series = WebexSeries(
            self.ids.hex32(),
            title,
            host,
            [m.email for m in members],
            str(self.ids.digits(10)),
            starts,
            timedelta(minutes=30),
            f"FREQ=WEEKLY;INTERVAL={step};COUNT={len(starts)}",
        )
        self.all_series[series.id] = series
        for start in starts:
            if start + series.duration < anchor:
                self.instance(title, start, host, members, minutes=30, series=series)
        return series

    def upcoming(self, title: str, host: Person, members: list[Person], start: datetime) -> None:
        series = WebexSeries(
            self.ids.hex32(),
            title,
            host,
            [m.email for m in members],
            str(self.ids.digits(10)),
            [start],
            timedelta(minutes=60),
        )
        self.all_series[series.id] = series


# ---------------------------------------------------------------------------- Zoom


def _build_zoom(rng: random.Random, ids: _Ids, anchor: datetime) -> dict[str, ZoomAccount]:
    full_users = [
        _zuser(ids, ZOOM_FULL_ADMIN_EMAIL, "Olga", "Owner", admin=True, role_id="0"),
        _zuser(ids, SUBJECT_STORED_EMAIL, "Dana", "Kowalski"),
        _zuser(ids, ZOOM_NO_PHONE_EMAIL, "Sam", "Nophone", phone=False),
        _zuser(ids, ZOOM_INACTIVE_EMAIL, "Ivan", "Inactive", status="inactive"),
        _zuser(ids, ZOOM_PENDING_EMAIL, "Paula", "Pending", status="pending", phone=False),
    ]
    for i in range(40):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}.{i}@acme.example".replace("'", "")
        full_users.append(_zuser(ids, email, first, last, phone=rng.random() < 0.5))
    basic_users = [
        _zuser(ids, ZOOM_BASIC_ADMIN_EMAIL, "Bea", "Basic", admin=True, role_id="0", phone=False),
        _zuser(ids, ZOOM_BASIC_SUBJECT_EMAIL, "Dana", "Kowalski", phone=False),
    ]
    for user in full_users + basic_users:
        user.created_at = iso(anchor - timedelta(days=700))
    full = ZoomAccount(
        "full", ids.zoom_user(), "Acme Full (Business + Phone)", True, True, full_users
    )
    basic = ZoomAccount("basic", ids.zoom_user(), "Basic Ltd (no Phone)", False, False, basic_users)
    _fill_zoom_user(rng, ids, anchor, full_users[1], rich=True, webinars=True, phone=True)
    _fill_zoom_user(rng, ids, anchor, full_users[2], rich=False, webinars=True, phone=False)
    _fill_zoom_user(rng, ids, anchor, full_users[0], rich=False, webinars=False, phone=True)
    _fill_zoom_user(rng, ids, anchor, basic_users[1], rich=False, webinars=False, phone=False)
    return {"full": full, "basic": basic}


def _zuser(
    ids: _Ids,
    email: str,
    first: str,
    last: str,
    *,
    admin: bool = False,
    role_id: str = "2",
    status: str = "active",
    phone: bool = True,
) -> ZoomUser:
    user = ZoomUser(
        ids.zoom_user(),
        email,
        first,
        last,
        status=status,
        role_id=role_id,
        admin=admin,
        phone_licence=phone,
        pmi=ids.digits(10),
    )
    user.phone_user_id = ids.zoom_user()
    user.extension = ids.digits(4)
    return user


def _fill_zoom_user(
    rng: random.Random,
    ids: _Ids,
    anchor: datetime,
    user: ZoomUser,
    *,
    rich: bool,
    webinars: bool,
    phone: bool,
) -> None:
    scale = 1 if rich else 0.3

    def meeting(topic: str, start: datetime | None, kind: int, minutes: int, expired: bool) -> None:
        user.meetings.append(
            {
                "uuid": ids.zoom_uuid(),
                "id": ids.digits(11),
                "host_id": user.id,
                "topic": topic,
                "type": kind,
                "start_time": iso(start) if start else None,
                "duration": minutes,
                "timezone": "Europe/Berlin",
                "agenda": "Agenda: " + "x" * rng.randint(0, 400),
                "created_at": iso(anchor - timedelta(days=400)),
                "join_url": f"https://acme.zoom.us/j/{ids.digits(11)}",
                "pmi": str(user.pmi),
                "_expired": expired,
            }
        )

    meeting("All-day war room", anchor, 2, 1440, False)  # live for the whole anchor day
    for i in range(int(14 * scale) + 1):
        meeting(rng.choice(TOPICS), anchor - timedelta(days=i + 1, hours=-9), 2, 45, False)
    for i in range(int(10 * scale) + 1):
        meeting("Expired: " + rng.choice(TOPICS), anchor - timedelta(days=40 + 20 * i), 2, 30, True)
    for i in range(int(36 * scale) + 1):
        meeting(
            rng.choice(TOPICS),
            anchor + timedelta(days=i + 1, hours=14),
            8 if i % 3 else 2,
            60,
            False,
        )
    meeting("Recurring, no fixed time", None, 3, 60, False)
    meeting("Instant meeting (never listed)", anchor - timedelta(days=2), 1, 20, False)
    if webinars:
        for i in range(4):
            user.webinars.append(
                {
                    "uuid": ids.zoom_uuid(),
                    "id": ids.digits(11),
                    "host_id": user.id,
                    "topic": f"Webinar {i}: Datenschutz für alle",
                    "type": 5,
                    "start_time": iso(anchor + timedelta(days=7 * (i + 1))),
                    "duration": 60,
                    "timezone": "UTC",
                    "agenda": "",
                    "created_at": iso(anchor - timedelta(days=30)),
                    "join_url": f"https://acme.zoom.us/w/{ids.digits(11)}",
                    "is_simulive": False,
                    "_expired": False,
                }
            )
        user.webinars.append(
            {
                **user.webinars[0],
                "uuid": ids.zoom_uuid(),
                "id": ids.digits(11),
                "start_time": iso(anchor - timedelta(days=90)),
                "_expired": True,
            }
        )
    for _ in range(int(40 * scale) + 1):
        start = anchor - timedelta(days=rng.randint(0, 395), hours=-rng.randint(7, 18))
        start = start.replace(minute=0, second=0)
        meeting_id = ids.zoom_uuid()
        files = [
            {
                "id": ids.uuid(),
                "meeting_id": meeting_id,
                "recording_start": iso(start),
                "recording_end": iso(start + timedelta(minutes=30)),
                "file_type": ftype,
                "file_extension": ftype if ftype != "TRANSCRIPT" else "VTT",
                "file_size": rng.randint(1000, 9_000_000),
                "play_url": f"https://acme.zoom.us/rec/play/{ids.hex32()}",
                "download_url": f"https://acme.zoom.us/rec/download/{ids.hex32()}",
                "status": "completed",
                "recording_type": rtype,
            }
            for ftype, rtype in rng.sample(
                [
                    ("MP4", "shared_screen_with_speaker_view"),
                    ("M4A", "audio_only"),
                    ("TRANSCRIPT", "audio_transcript"),
                    ("CHAT", "chat_file"),
                ],
                rng.randint(1, 3),
            )
        ]
        user.recordings.append(
            {
                "uuid": meeting_id,
                "id": ids.digits(11),
                "account_id": "",
                "host_id": user.id,
                "topic": rng.choice(TOPICS),
                "type": "2",
                "start_time": iso(start),
                "duration": 30,
                "total_size": sum(f["file_size"] for f in files),
                "recording_count": len(files),
                "share_url": f"https://acme.zoom.us/rec/share/{ids.hex32()}",
                "recording_files": files,
                "_trash": rng.random() < 0.1,
            }
        )
    if not phone:
        return
    for i in range(int(120 * scale) + 1):
        moment = anchor - timedelta(minutes=rng.randint(1, 215 * 1440))
        if i < 3:
            # Before the day's midnight: in the default 24-hour window until 20:00 UTC.
            moment = anchor - timedelta(hours=2 + i)
        inbound = rng.random() < 0.5
        other = f"+4930{ids.digits(7)}"
        mine = f"+4989{ids.digits(7)}"
        result = rng.choice(["Call connected", "Missed", "Voicemail", "Rejected"])
        user.call_logs.append(_call_log(rng, ids, user, moment, inbound, other, mine, result))
        if result == "Voicemail":
            user.voice_mails.append(
                {
                    "id": ids.hex32(),
                    "call_id": user.call_logs[-1]["call_id"],
                    "call_log_id": user.call_logs[-1]["id"],
                    "caller_name": "Çağla Öztürk",
                    "caller_number": other,
                    "caller_number_type": 2,
                    "callee_name": f"{user.first_name} {user.last_name}",
                    "callee_number": mine,
                    "callee_number_type": 1,
                    "date_time": iso(moment),
                    "duration": rng.randint(5, 90),
                    "status": rng.choice(["read", "unread"]),
                    "download_url": f"https://acme.zoom.us/v2/phone/voice_mails/download/{ids.hex32()}",
                }
            )
        elif result == "Call connected" and rng.random() < 0.4:
            user.call_logs[-1]["has_recording"] = True
            user.phone_recordings.append(
                {
                    "id": ids.hex32(),
                    "call_id": user.call_logs[-1]["call_id"],
                    "call_log_id": user.call_logs[-1]["id"],
                    "caller_name": user.call_logs[-1]["caller_name"],
                    "caller_number": other,
                    "callee_name": user.call_logs[-1]["callee_name"],
                    "callee_number": mine,
                    "direction": user.call_logs[-1]["direction"],
                    "date_time": iso(moment),
                    "duration": rng.randint(30, 900),
                    "download_url": f"https://acme.zoom.us/v2/phone/recording/download/{ids.hex32()}",
                    "transcript_download_url": "",
                    "meeting_uuid": "",
                }
            )


def _call_log(
    rng: random.Random,
    ids: _Ids,
    user: ZoomUser,
    moment: datetime,
    inbound: bool,
    other: str,
    mine: str,
    result: str,
) -> dict[str, Any]:
    return {
        "id": ids.uuid(),
        "call_id": str(ids.digits(19)),
        "user_id": user.id,
        "caller_number": other if inbound else mine,
        "caller_name": "Çağla Öztürk" if inbound else f"{user.first_name} {user.last_name}",
        "caller_number_type": 2 if inbound else 1,
        "callee_number": mine if inbound else other,
        "callee_name": f"{user.first_name} {user.last_name}" if inbound else "Extern",
        "callee_number_type": 1 if inbound else 2,
        "date_time": iso(moment),
        "direction": "inbound" if inbound else "outbound",
        "duration": rng.randint(0, 900),
        "result": result,
        "path": "pstn",
        "has_recording": False,
        "has_voicemail": result == "Voicemail",
        "charge": "",
        "rate": "",
        "hold_time": 0,
        "waiting_time": rng.randint(0, 30),
        "department": "",
        "cost_center": "",
        "site": {"id": "site1", "name": "Munich"},
    }


def _add_zoom_call_logs(seed: int, anchor: datetime, account: ZoomAccount, count: int) -> None:
    """``count`` more call logs of the subject (no voicemail or recording), spread over
    the last 175 days: well inside Zoom Phone's six-month reach."""
    rng = random.Random(seed + 2)  # noqa: S311 - deterministic test data, not secrets
    ids = _Ids(rng)
    user = next(u for u in account.users if u.email == SUBJECT_STORED_EMAIL)
    for _ in range(count):
        moment = anchor - timedelta(minutes=rng.randint(1, 175 * 1440))
        inbound = rng.random() < 0.5
        other = f"+4930{ids.digits(7)}"
        mine = f"+4989{ids.digits(7)}"
        result = rng.choice(["Call connected", "Missed", "Rejected"])
        user.call_logs.append(_call_log(rng, ids, user, moment, inbound, other, mine, result))


# ----------------------------------------------------------------- Demo subjects


@dataclass(frozen=True)
class SampleSubject:
    """A data subject to try the demo with: their email and what the simulator holds."""

    email: str
    holds: str


def sample_subjects() -> tuple[SampleSubject, ...]:
    """Emails to enter on a new request in the demo, and what each one finds.

    The one list `make run` prints and the dashboard shows, built from the seeded
    people above so it cannot drift from them.
    """
    return (
        SampleSubject(
            SUBJECT_EMAIL,
            "Webex meetings, and in Zoom meetings, webinars, cloud recordings and Zoom Phone "
            "(profile, call history, voicemails). The Zoom account without Phone has a few "
            "of her meetings.",
        ),
        SampleSubject(
            ZOOM_NO_PHONE_EMAIL.lower(),
            "Zoom meetings and webinars but no Zoom Phone licence, so Zoom Phone holds "
            "nothing; unknown to Webex.",
        ),
        SampleSubject(UNKNOWN_EMAIL, "Nothing anywhere: every connection answers “No data found”."),
    )
