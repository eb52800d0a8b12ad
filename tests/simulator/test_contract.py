"""Webex responses validate against Cisco's OpenAPI schemas (the extract in contracts/)."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path

import jsonschema
import pytest
import requests

import connectors.simulator
from connectors.simulator.seed import SUBJECT_EMAIL, SUBJECT_STORED_EMAIL
from tests.simulator.helpers import bearer

SUBSET = json.loads(
    (Path(connectors.simulator.__file__).parent / "contracts" / "webex-subset.json").read_text()
)


def validate(operation: str, body: dict) -> None:
    schema = {**SUBSET["responses"][operation], "components": SUBSET["components"]}
    jsonschema.Draft7Validator(schema).validate(body)


def known_fields(schema_name: str) -> set[str]:
    return set(SUBSET["components"]["schemas"][schema_name]["properties"])


@pytest.fixture
def token(simulator):
    return simulator.mint_token("webex")["access_token"]


def z(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("meeting_type", ["meeting", "meetingSeries", "scheduledMeeting"])
def test_list_meetings_matches_the_schema(simulator, token, meeting_type):
    now = simulator.state.now()
    response = requests.get(
        f"{simulator.webex_base_url}/meetings",
        headers=bearer(token),
        params={
            "meetingType": meeting_type,
            "from": z(now - timedelta(days=60)),
            "to": z(now + timedelta(days=30)),
            "max": 100,
        },
    )
    body = response.json()
    assert body["items"]
    validate("GET /meetings", body)
    fields = known_fields("MeetingObjectForListMeeting")
    assert all(set(item) <= fields for item in body["items"])  # no invented field names


def test_participants_match_the_schema(simulator, token):
    fields = known_fields("Participant")
    for title in ("All hands", "Incident bridge (all day)"):
        inst = next(i for i in simulator.state.org.webex.instances if i.title == title)
        body = requests.get(
            f"{simulator.webex_base_url}/meetingParticipants",
            headers=bearer(token),
            params={"meetingId": inst.id},
        ).json()
        assert body["items"]
        validate("GET /meetingParticipants", body)
        assert all(set(item) <= fields for item in body["items"])
    queried = requests.post(
        f"{simulator.webex_base_url}/meetingParticipants/query",
        headers=bearer(token),
        params={"meetingId": inst.id},
        json={"emails": [SUBJECT_STORED_EMAIL]},
    ).json()
    assert queried["items"]
    validate("POST /meetingParticipants/query", queried)


def test_preferences_and_people_me_match_the_schema(simulator, token):
    prefs = requests.get(
        f"{simulator.webex_base_url}/meetingPreferences",
        headers=bearer(token),
        params={"userEmail": SUBJECT_EMAIL},
    ).json()
    validate("GET /meetingPreferences", prefs)
    assert set(prefs) <= known_fields("MeetingPreferenceObject")
    me = requests.get(f"{simulator.webex_base_url}/people/me", headers=bearer(token)).json()
    validate("GET /people/me", me)
    assert set(me) <= known_fields("Person")


def test_the_validator_is_not_vacuous():
    with pytest.raises(jsonschema.ValidationError):
        validate("GET /meetings", {"items": [{"id": "x"}]})
