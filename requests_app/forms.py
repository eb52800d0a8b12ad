"""Staff forms for requests: parse and validate input; the services do the writing."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from requests_app.models import PrivacyRequest, Regulation, RequestType
from requests_app.selectors import DUE_OVERDUE, DUE_SOON


class PrivacyRequestCreateForm(forms.Form):
    request_type = forms.ChoiceField(
        label="Request type",
        choices=RequestType.choices,
        widget=forms.RadioSelect,
        initial=RequestType.ACCESS,
    )
    email = forms.EmailField(
        label="Subject's email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="We look for this person's data under this address in every connection.",
    )
    name = forms.CharField(label="Subject's name", max_length=200, required=False)
    regulation = forms.ChoiceField(
        label="Regulation", choices=Regulation.choices, initial=Regulation.GDPR
    )
    received_at = forms.DateTimeField(
        label="Received at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="When the request reached us; leave empty for now. The due date counts from it.",
    )

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now():
            raise forms.ValidationError("The receipt time cannot be in the future.")
        return value


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
