from django import forms

from connectors.models import Connection


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
        help_texts = {
            "client_id": "From the app you registered with the provider.",
            "access_mode": "Direct Contact only: requests go to the contact person, not the API.",
            "escalation_policy": "What happens when the contact person does not answer in time.",
        }

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
