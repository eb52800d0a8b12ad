"""factory_boy factories shared by every test module."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from connectors.models import Connection, Provider
from connectors.simulator.seed import DEMO_CLIENTS
from portal.models import User
from portal.roles import Role, user_roles_set
from requests_app.models import PrivacyRequest, Record, Regulation, RequestType, Result

TEST_PASSWORD = "correct horse battery staple 42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    is_staff = False
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        """Role groups; staff default to Reviewer (operators), ``roles=[]`` for none."""
        if not create:
            return
        if extracted is None:
            extracted = [Role.REVIEWER] if obj.is_staff else []
        user_roles_set(obj, extracted)


class StaffFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@example.com")
    is_staff = True


class AdminFactory(StaffFactory):
    email = factory.Sequence(lambda n: f"admin{n}@example.com")
    is_superuser = True


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    provider = Provider.WEBEX
    name = factory.Sequence(lambda n: f"Connection {n}")
    client_id = factory.Sequence(lambda n: f"client-{n}")
    client_secret = factory.Sequence(lambda n: f"client-secret-{n}")
    status = Connection.Status.NOT_CONNECTED

    class Params:
        connected = factory.Trait(
            status=Connection.Status.ACTIVE,
            access_token=factory.Sequence(lambda n: f"access-token-{n}"),
            refresh_token=factory.Sequence(lambda n: f"refresh-token-{n}"),
            access_token_expires_at=factory.LazyFunction(
                lambda: timezone.now() + timedelta(hours=1)
            ),
            authorised_at=factory.LazyFunction(timezone.now),
        )


class PrivacyRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PrivacyRequest

    request_type = RequestType.ACCESS
    subject_email = factory.Sequence(lambda n: f"subject{n}@example.org")
    subject_name = factory.Faker("name")
    regulation = Regulation.GDPR
    received_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyAttribute(lambda o: o.received_at + timedelta(days=30))
    original_due_at = factory.LazyAttribute(lambda o: o.due_at)


class ResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Result

    request = factory.SubFactory(PrivacyRequestFactory)
    connection = factory.SubFactory(ConnectionFactory, connected=True)
    provider = factory.LazyAttribute(lambda o: o.connection.provider)
    connection_name = factory.LazyAttribute(lambda o: o.connection.name)


class RecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Record

    result = factory.SubFactory(ResultFactory)
    object_type = "meeting"
    external_id = factory.Sequence(lambda n: f"obj-{n}")
    data = factory.LazyAttribute(lambda o: {"id": o.external_id})


def simulator_connection(simulator, provider: str, *, account: str | None = None, **options):
    """A connected Connection holding a token minted by the simulator for a demo client.

    ``account`` picks the demo client (Zoom: "full", ...); ``options`` go to
    ``mint_token`` (``lifetime``, ``scopes``, ``user_email``...). The one way tests
    get a connection the simulator accepts.
    """
    minted = simulator.mint_token(provider, account=account, **options)
    demo = next(c for c in DEMO_CLIENTS if c.client_id == minted["client_id"])
    return ConnectionFactory(
        connected=True,
        provider=provider,
        client_id=demo.client_id,
        client_secret=demo.client_secret,
        access_token=minted["access_token"],
        refresh_token=minted["refresh_token"],
        access_token_expires_at=timezone.now() + timedelta(seconds=minted["expires_in"]),
        granted_scopes=minted["scopes"],
        api_base_url=simulator.zoom_api_base_url.removesuffix("/v2") if provider == "zoom" else "",
    )


def records_create(result: Result, object_type: str, datas: list[dict]) -> list[Record]:
    """Record rows for ``result`` as a provider would have stored them (ids from "id")."""
    return [
        Record.objects.create(
            result=result,
            object_type=object_type,
            external_id=str(data.get("id", f"{object_type}-{i}")),
            data=data,
        )
        for i, data in enumerate(datas)
    ]


def in_review_result(provider: str = "zoom", **request_fields) -> Result:
    """A finished API Result of a request that is in review (add records to it)."""
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.IN_REVIEW, **request_fields)
    return ResultFactory(
        request=request,
        connection__provider=provider,
        status=Result.Status.SUCCEEDED,
    )
