from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from connectors.models import ESCALATION_DAYS_BOUNDS, REMINDER_DAYS_BOUNDS, Connection

_DAY_BOUNDS = {"reminder_days": REMINDER_DAYS_BOUNDS, "escalation_days": ESCALATION_DAYS_BOUNDS}


class ConnectionCreateForm(forms.ModelForm):
    client_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; never shown again.",
    )

    class Meta:
        model = Connection
        fields = [
            "provider",
            "name",
            "client_id",
            "client_secret",
            "access_mode",
            "contact_email",
            "escalation_policy",
            "reminder_days",
            "escalation_days",
        ]
        labels = {
            "client_id": "Client ID",
            "access_mode": "How data is collected",
            "contact_email": "Direct Contact address",
            "escalation_policy": "If the contact person does not answer",
            "reminder_days": "Remind the contact person every (days)",
            "escalation_days": "Escalate after (days)",
        }
        help_texts = {
            "client_id": "From the app you registered with the provider.",
            "access_mode": "API: the portal reads the data itself. Direct Contact: the portal "
            "emails the system's contact person, who sends the data or confirms a deletion.",
            "contact_email": "The person who answers for this system when it is reached by email "
            "(Direct Contact).",
            "escalation_policy": "Escalation is what happens when the contact person does not "
            "answer in time: skip this system, or hold the whole request until someone acts.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The model's bounds, checked here too (a clear error next to the field
        # before any model validation) and shown to the browser.
        for name, (low, high) in _DAY_BOUNDS.items():
            field = self.fields[name]
            field.min_value, field.max_value = low, high
            field.validators = [
                v for v in field.validators if not isinstance(v, MinValueValidator)
            ] + [MinValueValidator(low), MaxValueValidator(high)]
            field.widget.attrs.update(min=low, max=high)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("access_mode") == Connection.AccessMode.DIRECT_CONTACT and not cleaned.get(
            "contact_email"
        ):
            self.add_error("contact_email", "A Direct Contact connection needs a contact address.")
        return cleaned


class ConnectionUpdateForm(ConnectionCreateForm):
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the stored secret.",
    )

    class Meta(ConnectionCreateForm.Meta):
        fields = [f for f in ConnectionCreateForm.Meta.fields if f != "provider"]


class ConfirmDeleteForm(forms.Form):
    confirm_name = forms.CharField(
        label="Type the connection's name to confirm",
        help_text="Deleting wipes its tokens. Results already fetched keep the name.",
    )

    def __init__(self, *args, connection: Connection, **kwargs):
        super().__init__(*args, **kwargs)
        self.connection = connection

    def clean_confirm_name(self):
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.connection.name:
            raise forms.ValidationError("That is not this connection's name.")
        return value
