"""Demo connections to the local simulator, so `make run` can be tried end to end."""

from __future__ import annotations

from connectors.models import Connection
from connectors.services import connection_create

DEMO_NAMES = {
    ("webex", "acme"): "Webex (simulator)",
    ("zoom", "full"): "Zoom (simulator)",
    ("zoom", "basic"): "Zoom without Phone (simulator)",
}


def demo_subjects() -> list[dict[str, str]]:
    """The simulator's sample data subjects (email, what it holds), for the demo pages."""
    from connectors.simulator.seed import sample_subjects

    return [{"email": s.email, "holds": s.holds} for s in sample_subjects()]


def demo_connections_ensure() -> list[Connection]:
    """Create one not-yet-connected connection per simulator demo client, once."""
    from connectors.simulator.seed import DEMO_CLIENTS

    connections = []
    for client in DEMO_CLIENTS:
        name = DEMO_NAMES.get((client.provider, client.account), f"{client.provider} demo")
        existing = Connection.objects.filter(name=name).first()
        if existing is None:
            existing = connection_create(
                provider=client.provider,
                name=name,
                client_id=client.client_id,
                client_secret=client.client_secret,
                contact_email=f"owner-{client.provider}@example.com",
            )
        connections.append(existing)
    return connections
