"""Rebuild the Webex participant index of one or every active Webex connection."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from connectors.models import Connection, Provider
from connectors.participant_index import participant_index_rebuild


class Command(BaseCommand):
    help = (
        "Drop and rebuild the Webex participant index (one org-wide scan per connection). "
        "Requests keep working meanwhile: they wait for the rebuild and share it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "connections", nargs="*", help="connection ids or names (default: every active one)"
        )

    def handle(self, *args, connections: list[str], **options):
        chosen = Connection.objects.filter(
            provider=Provider.WEBEX,
            status=Connection.Status.ACTIVE,
            access_mode=Connection.AccessMode.API,
        )
        if connections:
            wanted = [
                chosen.filter(pk=int(n)).first() if n.isdigit() else chosen.filter(name=n).first()
                for n in connections
            ]
            missing = [n for n, c in zip(connections, wanted, strict=True) if c is None]
            if missing:
                raise CommandError(f"no active Webex connection: {', '.join(missing)}")
            targets = wanted
        else:
            targets = list(chosen)
        for connection in targets:
            count = participant_index_rebuild(connection)
            self.stdout.write(f"{connection.name}: {count} meeting instances indexed")
