"""The provider registry: one list, lookups, a test override, and its system check."""

from __future__ import annotations

import pytest

from connectors import checks
from connectors.models import Provider as ProviderChoice
from connectors.providers import all_providers, choices, get_provider
from connectors.providers.registry import override_providers


def test_the_registry_matches_the_model_choices():
    assert choices() == list(ProviderChoice.choices)
    assert [p.slug for p in all_providers()] == ["webex", "zoom"]
    assert checks.check_provider_registry() == []


def test_an_unknown_provider_is_a_lookup_error():
    with pytest.raises(LookupError):
        get_provider("teams")


def test_override_replaces_the_providers_for_the_block_only():
    webex = get_provider("webex")
    with override_providers([webex]):
        assert all_providers() == [webex]
        with pytest.raises(LookupError):
            get_provider("zoom")
    assert get_provider("zoom").slug == "zoom"


def test_the_system_check_names_a_registry_that_differs_from_the_model():
    with override_providers([get_provider("webex")]):
        errors = checks.check_provider_registry()
    assert [e.id for e in errors] == ["connectors.E003"]


def test_only_zoom_revokes_and_reports_scopes_on_refresh():
    assert get_provider("zoom").revoke_url
    assert get_provider("webex").revoke_url is None
    assert get_provider("zoom").reports_granted_scopes
    assert not get_provider("webex").reports_granted_scopes
