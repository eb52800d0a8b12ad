"""Scope comparisons for both Zoom families and Webex."""

from connectors.providers import get_provider

ZOOM = get_provider("zoom").scopes
WEBEX = get_provider("webex").scopes
GRANULAR = set(ZOOM.families[0].scopes)
CLASSIC = set(ZOOM.families[1].scopes)


def test_either_zoom_family_alone_is_enough():
    assert ZOOM.is_satisfied(GRANULAR)
    assert ZOOM.is_satisfied(CLASSIC)
    assert ZOOM.missing(GRANULAR | {"user:read:list_users:admin"}) == []


def test_missing_scopes_are_named_from_the_family_granted():
    granted = GRANULAR - {"phone:read:list_call_logs:admin", "webinar:read:list_webinars:admin"}
    assert sorted(ZOOM.missing(granted)) == [
        "phone:read:list_call_logs:admin",
        "webinar:read:list_webinars:admin",
    ]
    classic_partial = CLASSIC - {"phone:read:admin"}
    assert ZOOM.missing(classic_partial) == ["phone:read:admin"]


def test_a_mix_does_not_count_as_either_family():
    mixed = set(list(GRANULAR)[:5]) | set(list(CLASSIC)[:3])
    assert not ZOOM.is_satisfied(mixed)
    assert ZOOM.best_family(mixed) is ZOOM.families[0]


def test_nothing_granted_reports_the_preferred_family():
    assert ZOOM.missing(set()) == list(ZOOM.families[0].scopes)


def test_excess_scopes_are_reported():
    assert ZOOM.excess(GRANULAR | {"user:write:admin"}) == ["user:write:admin"]
    assert ZOOM.excess(GRANULAR | CLASSIC) == []


def test_every_scope_says_what_it_blocks():
    for requirement in (ZOOM, WEBEX):
        for family in requirement.families:
            for scope in family.scopes:
                assert requirement.blocks.get(scope), scope


def test_webex_requests_the_five_meeting_scopes():
    assert set(WEBEX.requested) == {
        "meeting:participants_read",
        "meeting:admin_participants_read",
        "meeting:preferences_read",
        "meeting:schedules_read",
        "meeting:admin_schedule_read",
    }
