from django.core.management.base import BaseCommand, CommandError

from portal.api_tokens import api_token_create
from portal.models import User


class Command(BaseCommand):
    help = "Create a JSON API token for a staff member and print it (it is stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The staff member's email.")
        parser.add_argument("--name", default="", help="What the token is for.")

    def handle(self, *args, email: str, name: str, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        try:
            _, raw = api_token_create(user=user, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(raw)
