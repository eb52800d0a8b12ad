"""Duplicates: Idempotency-Key on the API, duplicate flagging under a lock, the staff form token.

The concurrency tests use real threads against the file-backed test database
(``transaction=True``): on PostgreSQL the threads really overlap; on SQLite they
take turns on the write lock.
"""

import json
import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.api_tokens import api_token_create
from requests_app.models import IdempotencyKey, PrivacyRequest
from tests.factories import StaffFactory

URL = "/api/v1/requests"
BODY = {"type": "deletion", "email": "jane@example.com", "name": "Jane", "regulation": "gdpr"}


@pytest.fixture
def token(staff_user):
    return api_token_create(user=staff_user)[1]


def post(client, token, body, key=None, raw=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data, content_type="application/json", **headers)


@pytest.mark.django_db
class TestIdempotencyKey:
    def test_same_key_and_body_replays_the_same_request(self, client, token):
        first = post(client, token, BODY, key="order-1")
        again = post(client, token, BODY, key="order-1")
        assert first.status_code == 201
        assert again.status_code == 200
        assert again["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert PrivacyRequest.objects.count() == 1

    def test_key_order_and_spacing_do_not_matter(self, client, token):
        first = post(client, token, BODY, key="k")
        reordered = json.dumps(dict(reversed(list(BODY.items()))), indent=2)
        again = post(client, token, None, key="k", raw=reordered)
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]

    def test_same_key_with_another_body_is_422(self, client, token):
        post(client, token, BODY, key="k")
        other = post(client, token, {**BODY, "email": "other@example.com"}, key="k")
        assert other.status_code == 422
        assert other.json()["error"]["code"] == "idempotency_key_reused"
        assert PrivacyRequest.objects.count() == 1

    def test_without_a_key_each_post_creates(self, client, token):
        assert post(client, token, BODY).status_code == 201
        assert post(client, token, BODY).status_code == 201
        assert PrivacyRequest.objects.count() == 2

    def test_keys_belong_to_their_user(self, client, token):
        other_token = api_token_create(user=StaffFactory())[1]
        mine = post(client, token, BODY, key="shared")
        theirs = post(client, other_token, BODY, key="shared")
        assert (mine.status_code, theirs.status_code) == (201, 201)
        assert mine.json()["id"] != theirs.json()["id"]

    def test_keys_expire_after_24_hours(self, client, token):
        first = post(client, token, BODY, key="k")
        with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
            later = post(client, token, {**BODY, "email": "new@example.com"}, key="k")
        assert later.status_code == 201
        assert later.json()["id"] != first.json()["id"]
        assert IdempotencyKey.objects.count() == 1

    def test_a_refused_body_does_not_use_up_the_key(self, client, token):
        bad = post(client, token, {**BODY, "email": "nope"}, key="k")
        assert bad.status_code == 400
        good = post(client, token, BODY, key="k")
        assert good.status_code == 201

    @pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "a\tb"])
    def test_malformed_key_is_400(self, client, token, key):
        response = post(client, token, BODY, key=key)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
        assert PrivacyRequest.objects.count() == 0


def _run_concurrently(n, call):
    """Run ``call(i)`` in ``n`` threads released together; their results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def worker(i):
        try:
            barrier.wait()
            results[i] = call(i)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_ten_concurrent_posts_with_one_key_create_one_request(self, token):
        def call(i):
            response = post(Client(), token, BODY, key="same")
            return response.status_code, response.json()["id"]

        results = _run_concurrently(10, call)
        assert PrivacyRequest.objects.count() == 1
        assert sorted(status for status, _ in results) == [200] * 9 + [201]
        assert len({pk for _, pk in results}) == 1

    def test_ten_concurrent_posts_without_a_key_flag_all_but_the_first(self, token):
        body = {**BODY, "email": "  Jane@Example.com "}

        def call(i):
            response = post(Client(), token, body)
            assert response.status_code == 201, response.content
            return response.json()["id"]

        _run_concurrently(10, call)
        requests = list(PrivacyRequest.objects.order_by("received_at", "id"))
        assert len(requests) == 10
        first, rest = requests[0], requests[1:]
        assert first.possible_duplicate_of_id is None
        assert [r.possible_duplicate_of_id for r in rest] == [first.pk] * 9


def _form_data(token_value=None, **overrides):
    data = {
        "request_type": "deletion",
        "email": "sam@example.org",
        "name": "Sam",
        "regulation": "gdpr",
        **overrides,
    }
    if token_value is not None:
        data["form_token"] = token_value
    return data


def _form_token(html):
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


@pytest.mark.django_db
class TestStaffFormDoubleSubmit:
    def test_form_carries_a_fresh_one_time_token(self, staff_client):
        first = _form_token(staff_client.get(reverse("requests:new")).content.decode())
        second = _form_token(staff_client.get(reverse("requests:new")).content.decode())
        assert first != second

    def test_second_post_with_the_same_token_goes_to_the_first_request(self, staff_client):
        form_token = _form_token(staff_client.get(reverse("requests:new")).content.decode())
        first = staff_client.post(reverse("requests:new"), _form_data(form_token))
        again = staff_client.post(reverse("requests:new"), _form_data(form_token), follow=True)
        created = PrivacyRequest.objects.get()
        assert first["Location"] == reverse("requests:detail", args=[created.pk])
        assert again.redirect_chain[-1][0] == reverse("requests:detail", args=[created.pk])
        assert "already submitted" in again.content.decode()

    def test_a_fresh_token_creates_another_request(self, staff_client):
        for _ in range(2):
            form_token = _form_token(staff_client.get(reverse("requests:new")).content.decode())
            staff_client.post(reverse("requests:new"), _form_data(form_token))
        assert PrivacyRequest.objects.count() == 2

    def test_a_refused_post_keeps_the_token_usable(self, staff_client):
        form_token = _form_token(staff_client.get(reverse("requests:new")).content.decode())
        bad = staff_client.post(reverse("requests:new"), _form_data(form_token, email="nope"))
        assert bad.status_code == 400
        assert _form_token(bad.content.decode()) == form_token
        good = staff_client.post(reverse("requests:new"), _form_data(form_token))
        assert good.status_code == 302
        assert PrivacyRequest.objects.count() == 1
