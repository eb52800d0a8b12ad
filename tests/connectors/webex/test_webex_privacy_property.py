"""Privacy as a property: whatever the participants, nobody else's email or name
ends up in the stored meeting, and the counts are right."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.emails import email_normalize
from connectors.providers.webex_fetch import Attendance, meeting_record

SUBJECT = "dana.kowalski@acme.example"

local_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._", min_size=3, max_size=12)
other_email = st.builds(lambda name: f"p-{name}@other.example", local_part)
subject_spelling = st.sampled_from(
    [SUBJECT, SUBJECT.upper(), f"  {SUBJECT} ", "Dana.Kowalski@Acme.Example"]
)


@st.composite
def meetings(draw):
    others = draw(st.lists(other_email, min_size=0, max_size=12, unique=True))
    subject_joins = draw(st.integers(min_value=1, max_value=3))
    host_is_subject = draw(st.booleans())
    host_email = draw(subject_spelling) if host_is_subject or not others else others[0]
    records = [
        {
            "id": f"p{i}",
            "email": email,
            "displayName": f"Name of {email}",
            "hostEmail": host_email,
            "host": email == host_email,
            "devices": [{"deviceType": "webex_meeting_center_mac"}],
        }
        for i, email in enumerate(others)
    ]
    records += [
        {
            "id": f"s{i}",
            "email": draw(subject_spelling),
            "displayName": "Dana Kowalski",
            "hostEmail": host_email,
            "host": host_is_subject,
        }
        for i in range(subject_joins)
    ]
    records = draw(st.permutations(records))
    meeting = {
        "id": "870f51ff287b41be84648412901e0402_I_197977258267247872",
        "title": "Weekly sync",
        "hostEmail": host_email,
        "hostDisplayName": f"Name of {host_email}",
        "hostUserId": "Y2lzY29zcGFyazovL3VzL1BFT1BMRS9ob3N0",
        "hostKey": "123456",
    }
    return meeting, records, others


@settings(max_examples=200, deadline=None)
@given(meetings())
def test_only_the_subjects_own_data_is_stored(case):
    meeting, records, others = case
    attendance = Attendance(SUBJECT)
    attendance.add(records)
    stored = meeting_record(meeting, attendance, SUBJECT)
    dumped = json.dumps(stored).lower()
    host_is_subject = email_normalize(meeting["hostEmail"]) == SUBJECT
    for email in others:
        assert email not in dumped
        assert f"name of {email}" not in dumped
    if not host_is_subject:
        assert not any(key.startswith("host") for key in stored)
        for own in stored["subject_participants"]:
            assert not any(key.startswith("host") and key != "host" for key in own)
    assert stored["total_participants"] == len(others) + 1
    assert stored["is_1_on_1_conversation"] == (len(others) == 1)
    assert all(email_normalize(r["email"]) == SUBJECT for r in stored["subject_participants"])
