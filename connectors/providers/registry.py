"""Every provider, listed once; the rest of the code looks providers up here.

Adding a provider: write its module (the ``Provider`` interface in ``base.py``),
add it to ``_PROVIDERS`` and a choice to ``connectors.models.Provider`` (a system
check, ``connectors.E003``, keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from connectors.providers.base import Provider
from connectors.providers.webex import WebexProvider
from connectors.providers.zoom import ZoomProvider

_PROVIDERS: dict[str, Provider] = {
    provider.slug: provider for provider in (WebexProvider(), ZoomProvider())
}


def get_provider(slug: str) -> Provider:
    """The provider for ``slug``; an unknown slug raises ``LookupError``."""
    try:
        return _PROVIDERS[slug]
    except KeyError:
        raise LookupError(f"Unknown provider {slug!r}.") from None


def all_providers() -> list[Provider]:
    """Every provider, in the order listed."""
    return list(_PROVIDERS.values())


def choices() -> list[tuple[str, str]]:
    """(slug, display name) pairs, as a model field's choices."""
    return [(provider.slug, provider.display_name) for provider in _PROVIDERS.values()]


@contextmanager
def override_providers(providers: Iterable[Provider]) -> Iterator[None]:
    """For tests: exactly ``providers`` are registered for the duration of the block."""
    global _PROVIDERS
    previous = _PROVIDERS
    _PROVIDERS = {provider.slug: provider for provider in providers}
    try:
        yield
    finally:
        _PROVIDERS = previous
