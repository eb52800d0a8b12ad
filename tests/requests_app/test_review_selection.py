"""Review services: selection semantics and defaults, edits and reverts, roles, audit."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from connectors.providers.field_rules import CREDENTIAL, OTHER_PEOPLE, rule_for
from portal.models import AuditEvent
from portal.roles import Role, user_can
from requests_app.models import PrivacyRequest, Record, RecordEdit
from requests_app.services import review
from requests_app.services.review import (
    ReviewLocked,
    field_set_selected,
    object_type_set_included,
    record_edit,
    record_edit_revert,
    record_set_included,
    released_columns,
    report_sections,
    review_object_types,
    review_records_page,
)
from tests.factories import (
    AdminFactory,
    StaffFactory,
    in_review_result,
    records_create,
)

pytestmark = pytest.mark.django_db

MEETINGS = [
    {
        "id": 1,
        "topic": "Budget",
        "start_url": "https://zoom.example/s/1?zak=START-TOKEN-1",
        "join_url": "https://zoom.example/j/1?pwd=PASSCODE1",
        "settings": {"host_video": True, "alternative_hosts": "someone.else@example.com"},
    },
    {
        "id": 2,
        "topic": "Roadmap",
        "start_url": "https://zoom.example/s/2?zak=START-TOKEN-2",
        "join_url": "https://zoom.example/j/2",
        "settings": {"host_video": False, "alternative_hosts": ""},
    },
]


@pytest.fixture
def reviewer():
    return StaffFactory()


@pytest.fixture
def result():
    result = in_review_result("zoom")
    records_create(result, "meeting", MEETINGS)
    records_create(result, "user", [{"id": "u1", "email": "dana@example.com", "pmi": 123}])
    return result


def types(result):
    return {t.object_type: t for t in review_object_types(result.request)}


def fields(type_review):
    return {f.path: f for f in type_review.fields}


def released(request):
    """{object_type: [released record dicts]} as the report would get them."""
    from requests_app.reports import released_fields

    out = {}
    for section in report_sections(request):
        out[section.object_type] = [released_fields(r, section.columns) for r in section.records()]
    return out


def test_defaults_release_the_subjects_data_and_withhold_credentials_and_other_people(result):
    meeting = types(result)["meeting"]
    assert meeting.included and meeting.is_default and meeting.record_count == 2
    assert meeting.label == "Meetings"
    state = fields(meeting)
    # Naming fields first, then by path: the same order on SQLite and PostgreSQL.
    assert list(state) == [
        "id",
        "topic",
        "join_url",
        "settings.alternative_hosts",
        "settings.host_video",
        "start_url",
    ]
    assert state["topic"].selected and state["topic"].is_default and state["topic"].rule is None
    for path, kind in [
        ("start_url", CREDENTIAL),
        ("join_url", CREDENTIAL),  # one record's link carries its passcode
        ("settings.alternative_hosts", OTHER_PEOPLE),
    ]:
        assert not state[path].selected and state[path].is_default
        assert state[path].rule.kind == kind and state[path].rule.reason
    assert released(result.request)["meeting"] == [
        {"id": 1, "topic": "Budget", "settings": {"host_video": True}},
        {"id": 2, "topic": "Roadmap", "settings": {"host_video": False}},
    ]


def test_a_conditional_rule_applies_only_when_a_value_matches():
    result = in_review_result("zoom")
    records_create(result, "webinar", [{"id": 5, "join_url": "https://zoom.example/w/5"}])
    state = fields(types(result)["webinar"])
    assert state["join_url"].selected and state["join_url"].rule is None
    assert rule_for("zoom", "webinar", "join_url").conditional


def test_the_zoom_profile_withholds_a_personal_link_with_its_passcode_and_the_manager():
    result = in_review_result("zoom")
    records_create(
        result,
        "user",
        [
            {
                "id": "u1",
                "email": "dana@example.com",
                "pmi": 6589310093,
                "personal_meeting_url": "https://acme.zoom.us/j/6589310093?pwd=PMIPASS",
                "manager": "boss@example.com",
                "vanity_url": "https://acme.zoom.us/my/dana",
            }
        ],
    )
    records_create(
        result,
        "settings",
        [{"schedule_meeting": {"host_video": True, "pmi_password": "123456"}}],
    )
    user = fields(types(result)["user"])
    assert user["personal_meeting_url"].rule.kind == CREDENTIAL
    assert user["manager"].rule.kind == OTHER_PEOPLE
    for path in ("personal_meeting_url", "manager"):
        assert not user[path].selected and user[path].is_default
    for path in ("email", "pmi", "vanity_url"):
        assert user[path].selected and user[path].rule is None
    settings = fields(types(result)["settings"])
    assert settings["schedule_meeting.pmi_password"].rule.kind == CREDENTIAL
    assert settings["schedule_meeting.host_video"].selected
    report = json.dumps(released(result.request))
    for secret in ("PMIPASS", "boss@example.com", "123456"):
        assert secret not in report
    assert "dana@example.com" in report


def test_a_personal_link_without_a_passcode_is_the_subjects_data():
    result = in_review_result("zoom")
    records_create(
        result,
        "user",
        [{"id": "u1", "personal_meeting_url": "https://acme.zoom.us/j/6589310093"}],
    )
    user = fields(types(result)["user"])
    assert user["personal_meeting_url"].selected and user["personal_meeting_url"].rule is None
    assert rule_for("zoom", "user", "personal_meeting_url").conditional


def test_rules_cover_sub_paths_and_are_per_provider():
    assert rule_for("zoom", "meeting", "settings.alternative_hosts.primary").kind == OTHER_PEOPLE
    assert rule_for("webex", "meeting", "hostKey").kind == CREDENTIAL
    assert rule_for("webex", "meeting", "title") is None
    assert rule_for("zoom", "call_log", "callee_name").kind == OTHER_PEOPLE
    assert rule_for("unknown", "meeting", "password") is None


def test_field_choice_applies_to_every_record_and_resets_to_the_default(result, reviewer):
    request = result.request
    field_set_selected(request, result, "meeting", "topic", False, actor=reviewer)
    field_set_selected(request, result, "meeting", "start_url", True, actor=reviewer)
    state = fields(types(result)["meeting"])
    assert not state["topic"].selected and not state["topic"].is_default
    assert state["start_url"].selected and not state["start_url"].is_default
    rows = released(request)["meeting"]
    assert all("topic" not in r for r in rows)
    assert [r["start_url"] for r in rows] == [m["start_url"] for m in MEETINGS]
    field_set_selected(request, result, "meeting", "start_url", None, actor=reviewer)
    state = fields(types(result)["meeting"])
    assert not state["start_url"].selected and state["start_url"].is_default
    with pytest.raises(ValidationError):
        field_set_selected(request, result, "meeting", "no.such.path", False, actor=reviewer)
    with pytest.raises(ValidationError):
        field_set_selected(request, result, "meeting", "topic", "yes", actor=reviewer)


def test_type_record_interplay_deselection_wins(result, reviewer):
    request = result.request
    first, second = Record.objects.filter(object_type="meeting").order_by("id")
    record_set_included(request, first, False, actor=reviewer)
    assert [r["id"] for r in released(request)["meeting"]] == [2]
    page = review_records_page(result, "meeting", 1)
    assert [(v.included, v.is_default) for v in page] == [(False, False), (True, True)]
    assert types(result)["meeting"].excluded_record_count == 1

    # The type switched off withholds every record, whatever their own choice.
    record_set_included(request, second, True, actor=reviewer)
    object_type_set_included(request, result, "meeting", False, actor=reviewer)
    assert "meeting" not in released(request)
    assert not types(result)["meeting"].included
    assert [v.included for v in review_records_page(result, "meeting", 1)] == [False, False]

    # Back on: the records' own choices are in force again.
    object_type_set_included(request, result, "meeting", None, actor=reviewer)
    assert types(result)["meeting"].is_default
    assert [r["id"] for r in released(request)["meeting"]] == [2]
    record_set_included(request, first, None, actor=reviewer)
    assert [r["id"] for r in released(request)["meeting"]] == [1, 2]
    with pytest.raises(ValidationError):
        object_type_set_included(request, result, "no_such_type", False, actor=reviewer)


def test_a_released_type_with_every_record_withheld_stays_empty(result, reviewer):
    for record in Record.objects.filter(object_type="user"):
        record_set_included(result.request, record, False, actor=reviewer)
    assert released(result.request)["user"] == []


def test_edits_keep_the_original_beside_the_data_and_can_be_reverted(result, reviewer):
    request = result.request
    record = Record.objects.get(object_type="meeting", external_id="1")
    edit = record_edit(request, record, "topic", "Budget FY27", "Typo", actor=reviewer)
    assert (edit.original, edit.value, edit.reason) == ("Budget", "Budget FY27", "Typo")
    assert edit.edited_by == reviewer and edit.edited_at is not None
    record.refresh_from_db()
    assert record.data["topic"] == "Budget"  # fetched data untouched
    view = review_records_page(result, "meeting", 1).records[0]
    assert view.cells["topic"] == "Budget FY27" and view.edits["topic"] == edit
    assert released(request)["meeting"][0]["topic"] == "Budget FY27"

    # A second edit of the same path replaces the first; the original stays the fetched one.
    second = record_edit(request, record, "topic", "Budget 2027", "Clearer", actor=reviewer)
    edit.refresh_from_db()
    assert edit.reverted_at is not None and edit.reverted_by == reviewer
    assert second.original == "Budget"
    assert RecordEdit.objects.filter(record=record, reverted_at__isnull=True).count() == 1

    record_edit_revert(request, second, actor=reviewer)
    assert released(request)["meeting"][0]["topic"] == "Budget"
    assert review_records_page(result, "meeting", 1).records[0].edits == {}
    with pytest.raises(ValidationError):
        record_edit_revert(request, second, actor=reviewer)
    assert RecordEdit.objects.filter(record=record).count() == 2  # history stays


def test_an_edit_of_a_path_the_record_lacks_and_nested_values(result, reviewer):
    request = result.request
    user = Record.objects.get(object_type="user")
    meeting = Record.objects.get(object_type="meeting", external_id="2")
    edit = record_edit(request, meeting, "settings.host_video", True, "Wrong", actor=reviewer)
    assert edit.original is False
    assert released(request)["meeting"][1]["settings"] == {"host_video": True}
    none_edit = record_edit(request, user, "pmi", None, "Not the subject's", actor=reviewer)
    assert none_edit.value is None and none_edit.original == 123
    assert released(request)["user"][0]["pmi"] is None


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_edit_needs_a_reason(result, reviewer, reason):
    record = Record.objects.get(object_type="meeting", external_id="1")
    with pytest.raises(ValidationError, match="reason"):
        record_edit(result.request, record, "topic", "x", reason, actor=reviewer)
    assert not RecordEdit.objects.exists()


def test_an_edit_rejects_unknown_paths_and_values_that_are_not_json(result, reviewer):
    record = Record.objects.get(object_type="meeting", external_id="1")
    with pytest.raises(ValidationError):
        record_edit(result.request, record, "nope", "x", "why", actor=reviewer)
    with pytest.raises(ValidationError):
        record_edit(result.request, record, "topic", {1, 2}, "why", actor=reviewer)
    with pytest.raises(ValidationError):
        record_edit(result.request, record, "topic.deeper", "x", "why", actor=reviewer)


def test_changes_are_refused_outside_review(result, reviewer):
    request = result.request
    record = Record.objects.get(object_type="meeting", external_id="1")
    edit = record_edit(request, record, "topic", "x", "why", actor=reviewer)
    PrivacyRequest.objects.filter(pk=request.pk).update(status=PrivacyRequest.Status.APPROVED)
    calls = [
        lambda: object_type_set_included(request, result, "meeting", False, actor=reviewer),
        lambda: field_set_selected(request, result, "meeting", "topic", False, actor=reviewer),
        lambda: record_set_included(request, record, False, actor=reviewer),
        lambda: record_edit(request, record, "topic", "y", "why", actor=reviewer),
        lambda: record_edit_revert(request, edit, actor=reviewer),
    ]
    for call in calls:
        with pytest.raises(ReviewLocked):
            call()
    assert issubclass(ReviewLocked, ValidationError)


def test_a_result_or_record_of_another_request_is_refused(result, reviewer):
    other = in_review_result("zoom")
    (stranger,) = records_create(other, "meeting", [{"id": 9, "topic": "Other"}])
    with pytest.raises(ValidationError):
        record_set_included(result.request, stranger, False, actor=reviewer)
    with pytest.raises(ValidationError):
        object_type_set_included(result.request, other, "meeting", False, actor=reviewer)


def test_roles_are_enforced_in_the_services(result):
    request = result.request
    record = Record.objects.get(object_type="meeting", external_id="1")
    viewer = StaffFactory(roles=[Role.VIEWER])
    approver = StaffFactory(roles=[Role.APPROVER])
    no_role = StaffFactory(roles=[])
    for user in (viewer, approver, no_role):
        with pytest.raises(PermissionDenied):
            record_edit(request, record, "topic", "x", "why", actor=user)
        with pytest.raises(PermissionDenied):
            object_type_set_included(request, result, "meeting", False, actor=user)
    record_edit(request, record, "topic", "x", "why", actor=AdminFactory())
    assert user_can(viewer, "view") and not user_can(viewer, "review")
    assert user_can(no_role, "view") and not user_can(no_role, "approve")
    assert user_can(approver, "approve") and not user_can(approver, "review")


def test_every_change_is_audited_with_ids_and_paths_never_values(result, reviewer):
    request = result.request
    record = Record.objects.get(object_type="meeting", external_id="1")
    object_type_set_included(request, result, "user", False, actor=reviewer)
    field_set_selected(request, result, "meeting", "start_url", True, actor=reviewer)
    record_set_included(request, record, False, actor=reviewer)
    edit = record_edit(request, record, "topic", "SECRET-NEW-VALUE", "why", actor=reviewer)
    record_edit_revert(request, edit, actor=reviewer)
    events = AuditEvent.objects.filter(action__startswith="review.").order_by("id")
    assert [e.action for e in events] == [
        "review.type_selection_changed",
        "review.field_selection_changed",
        "review.record_selection_changed",
        "review.record_edited",
        "review.edit_reverted",
    ]
    assert all(e.actor == reviewer and e.target_id == str(request.pk) for e in events)
    assert events[3].details["path"] == "topic" and events[3].details["record_id"] == record.pk
    dumped = json.dumps([e.details for e in events]) + "".join(e.reason for e in events)
    for value in ("SECRET-NEW-VALUE", "Budget", "START-TOKEN", "someone.else"):
        assert value not in dumped
    request.refresh_from_db()
    assert request.review_last_editor == reviewer


def test_records_page_paginates_on_the_server():
    result = in_review_result("webex")
    records_create(result, "meeting", [{"id": f"m{i}", "title": f"T{i}"} for i in range(120)])
    page = review.review_records_page(result, "meeting", 3, per_page=50)
    assert (page.count, page.num_pages, page.number, len(page)) == (120, 3, 3, 20)
    assert page.records[0].record.external_id == "m100"
    assert page.has_previous and not page.has_next
    assert (page.start_index, page.end_index) == (101, 120)
    assert review.review_records_page(result, "meeting", 99).number == 3
    assert review.review_records_page(result, "meeting", -1).number == 1
    assert [f.path for f in page.fields] == ["id", "title"]
    with pytest.raises(Record.DoesNotExist):
        review.review_records_page(result, "nothing", 1)


def test_a_path_that_is_whole_in_one_record_and_nested_in_another_never_leaks():
    from requests_app.services.review import FieldState

    states = [
        FieldState("a", True, True, None),
        FieldState("a.secret", False, False, None),
        FieldState("b", True, True, None),
    ]
    assert released_columns(states) == ["b"]
