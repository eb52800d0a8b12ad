"""The public request form for data subjects (parsing only; intake validates and stores)."""

from __future__ import annotations

from django import forms

from requests_app.models import Regulation, RequestType
from requests_app.services.intake import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH

MESSAGE_MAX = 2000
HONEYPOT_FIELD = "website"


class SubjectRequestForm(forms.Form):
    request_type = forms.ChoiceField(
        label="What would you like us to do?",
        widget=forms.RadioSelect,
        choices=[
            (RequestType.ACCESS, "Send me a copy of my data (access)"),
            (RequestType.DELETION, "Delete my data (deletion)"),
        ],
        initial=RequestType.ACCESS,
    )
    email = forms.EmailField(
        label="Your email address",
        max_length=EMAIL_MAX_LENGTH,
        help_text="We look for your data under this address and send our answers to it.",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    name = forms.CharField(
        label="Your name (optional)",
        required=False,
        max_length=NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    regulation = forms.ChoiceField(
        label="Which privacy law applies to you?",
        widget=forms.RadioSelect,
        choices=[
            (Regulation.GDPR, "GDPR: you live in the European Union, the EEA or the UK"),
            (Regulation.CCPA, "CCPA: you live in California"),
            (Regulation.OTHER, "Another law, or you are not sure"),
        ],
        initial=Regulation.GDPR,
        help_text="It decides how long we may take to answer. If unsure, choose the last one.",
    )
    message = forms.CharField(
        label="Anything we should know? (optional)",
        required=False,
        max_length=MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    # Hidden from people (CSS and aria-hidden); bots that fill every field give themselves away.
    website = forms.CharField(
        label="Leave this field empty",
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="One-time code",
        max_length=12,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*"}
        ),
    )
