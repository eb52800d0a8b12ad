from django.core.management.base import BaseCommand, CommandError

from portal.api_tokens import API_TOKEN_MAX_DAYS, api_token_create
from portal.models import API_TOKEN_DEFAULT_DAYS, User


class Command(BaseCommand):
    help = (
        "Create a JSON API token for a staff member. The token alone goes to standard "
        "output (it is stored hashed and never shown again); its expiry and scope go to "
        "standard error."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The staff member's email.")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--days",
            type=int,
            default=API_TOKEN_DEFAULT_DAYS,
            help=f"Days until it expires (default {API_TOKEN_DEFAULT_DAYS}, "
            f"at most {API_TOKEN_MAX_DAYS}).",
        )
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="The token may read requests and records but not create requests.",
        )

    def handle(self, *args, email: str, name: str, days: int, read_only: bool, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        try:
            token, raw = api_token_create(user=user, name=name, days=days, read_only=read_only)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(raw)
        scope = "read-only" if token.read_only else "read and write"
        self.stderr.write(
            f"Token {token.prefix}… ({scope}) expires {token.expires_at:%Y-%m-%d %H:%M %Z}."
        )
