"""Small test doubles shared by the connector tests."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend


class MaxJitter:
    """Backoff without randomness: always the top of the full-jitter range."""

    def uniform(self, low: float, high: float) -> float:
        return high


class StaticToken:
    """A token source that hands out one token and must never be asked to refresh."""

    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refreshed_token(self, stale: str) -> str:
        raise AssertionError("no refresh expected")


class UnreachableMailServer(BaseEmailBackend):
    """An email backend whose server is down: every send raises ``OSError``."""

    def send_messages(self, email_messages):
        raise OSError("mail server unreachable")
