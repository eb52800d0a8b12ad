from django.core.management.base import BaseCommand

from portal.schedules import schedules_ensure


class Command(BaseCommand):
    help = "Create or update the periodic background tasks (idempotent)."

    def handle(self, *args, **options):
        for name in schedules_ensure():
            self.stdout.write(f"schedule {name}")
