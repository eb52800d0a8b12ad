"""Connection numbers (reminder and escalation days) have sane bounds in the form and
on the model, whatever the database would store (SQLite stores any integer)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from connectors.forms import ConnectionCreateForm, ConnectionUpdateForm
from connectors.models import Connection
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    return {
        "provider": "zoom",
        "name": "Acme Zoom",
        "client_id": "abc",
        "client_secret": "s",
        "access_mode": "api",
        "contact_email": "owner@example.com",
        "escalation_policy": "block",
        "reminder_days": 5,
        "escalation_days": 14,
        **overrides,
    }


@pytest.mark.parametrize("field", ["reminder_days", "escalation_days"])
@pytest.mark.parametrize("value", ["99999999999", "0", "-1", "32768", "1" * 5000])
def test_out_of_range_numbers_are_form_errors(field, value):
    form = ConnectionCreateForm(data=form_data(**{field: value}))

    assert not form.is_valid()
    assert form.errors[field]


def test_the_reported_value_is_refused_in_plain_words(staff_client):
    response = staff_client.post("/connections/new/", form_data(reminder_days="99999999999"))

    assert response.status_code == 200
    assert "less than or equal to" in response.content.decode()
    assert not Connection.objects.exists()


def test_the_update_form_has_the_same_bounds():
    connection = ConnectionFactory()
    data = form_data(escalation_days="99999999999")
    data.pop("provider")

    form = ConnectionUpdateForm(data=data, instance=connection)

    assert not form.is_valid()
    assert "escalation_days" in form.errors


@pytest.mark.parametrize(("reminder", "escalation"), [(1, 1), (5, 14), (90, 365)])
def test_values_in_range_are_accepted(reminder, escalation):
    form = ConnectionCreateForm(data=form_data(reminder_days=reminder, escalation_days=escalation))

    assert form.is_valid(), form.errors


def test_the_model_refuses_them_too():
    connection = ConnectionFactory.build(reminder_days=99999999999)

    with pytest.raises(ValidationError) as caught:
        connection.full_clean(exclude=["client_secret"])
    assert "reminder_days" in caught.value.message_dict


def test_the_inputs_carry_their_bounds():
    html = str(ConnectionCreateForm()["reminder_days"])

    assert 'min="1"' in html and 'max="90"' in html
