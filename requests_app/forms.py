"""Staff forms for requests: parse input for the services, which validate and write."""

from __future__ import annotations

import json
import uuid

from django import forms

from requests_app.models import PrivacyRequest, Regulation, RequestType
from requests_app.selectors import DUE_OVERDUE, DUE_SOON
from requests_app.services.intake import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH
from requests_app.services.review import REASON_MAX


class _ServiceValidatedText(forms.CharField):
    """Shown as required where the service requires it; the service says what is wrong."""

    def validate(self, value: str) -> None:
        return None


class PrivacyRequestCreateForm(forms.Form):
    """Labels, widgets and parsing only: ``privacy_request_create`` validates the input.

    The fields accept any text so that the service, the one validator shared with the
    JSON API, reports every problem in one pass; its errors are shown on these fields.
    """

    request_type = _ServiceValidatedText(
        label="Request type",
        widget=forms.RadioSelect(choices=RequestType.choices),
        initial=RequestType.ACCESS,
    )
    email = _ServiceValidatedText(
        label="Subject's email address",
        strip=False,
        widget=forms.EmailInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "maxlength": EMAIL_MAX_LENGTH}
        ),
        help_text="We look for this person's data under this address in every connection.",
    )
    name = forms.CharField(
        label="Subject's name",
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"maxlength": NAME_MAX_LENGTH}),
    )
    regulation = _ServiceValidatedText(
        label="Regulation",
        widget=forms.Select(choices=Regulation.choices),
        initial=Regulation.GDPR,
    )
    received_at = forms.DateTimeField(
        label="Received at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="When the request reached us; leave empty for now. The due date counts from it.",
    )
    # One-time token against double submission: a second POST of the same rendered
    # form goes to the request the first one created (see the request_new view).
    form_token = forms.CharField(
        widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex
    )


class PrivacyRequestExtendForm(forms.Form):
    reason = forms.CharField(
        label="Reason for the extension",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit trail. The regulation allows one extension only.",
    )


class PrivacyRequestFilterForm(forms.Form):
    DUE_CHOICES = [("", "Any time"), (DUE_OVERDUE, "Overdue"), (DUE_SOON, "Due soon")]

    q = forms.CharField(label="Subject email", required=False, max_length=254)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *PrivacyRequest.Status.choices]
    )
    request_type = forms.ChoiceField(
        label="Type", required=False, choices=[("", "Any type"), *RequestType.choices]
    )
    regulation = forms.ChoiceField(
        label="Regulation", required=False, choices=[("", "Any regulation"), *Regulation.choices]
    )
    due = forms.ChoiceField(label="Due", required=False, choices=DUE_CHOICES)

    def filters(self) -> dict[str, str]:
        """Selector keyword arguments; invalid input is ignored rather than an error page."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "status": data.get("status", ""),
            "request_type": data.get("request_type", ""),
            "regulation": data.get("regulation", ""),
            "due": data.get("due", ""),
            "email": data.get("q", ""),
        }


# --- Review and release ---------------------------------------------------------------------


class RecordEditForm(forms.Form):
    """A corrected value for one field of one record; the original stays beside it."""

    FORMAT_TEXT = "text"
    FORMAT_JSON = "json"
    FORMAT_CHOICES = [
        (FORMAT_TEXT, "Text"),
        (FORMAT_JSON, "JSON (numbers, true/false, null, lists and objects)"),
    ]

    value = forms.CharField(
        label="New value",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
    value_format = forms.ChoiceField(
        label="Read the new value as",
        choices=FORMAT_CHOICES,
        initial=FORMAT_TEXT,
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label="Reason for the change",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required. Recorded with your name and the time; the subject does not see it.",
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("value_format") == self.FORMAT_JSON and "value" in data:
            try:
                data["parsed_value"] = json.loads(data["value"])
            except ValueError:
                self.add_error(
                    "value", "This is not valid JSON. Choose “Text” to store it as written."
                )
        elif "value" in data:
            data["parsed_value"] = data["value"]
        return data


class ReviewReasonForm(forms.Form):
    """Denying a request or reopening its review: the reason is recorded in the audit trail."""

    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required. Recorded in the audit trail.",
    )
