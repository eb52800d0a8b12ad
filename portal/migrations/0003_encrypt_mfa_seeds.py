"""Encrypt the TOTP and recovery-code seeds allauth stored in plain text.

From this release allauth passes seeds through ``portal.adapters.StaffMFAAdapter``,
which encrypts them with FIELD_ENCRYPTION_KEY; rows written before are encrypted
here so no seed stays readable in the database. Seeds already encrypted are left
alone, so running it twice changes nothing.
"""

from django.db import migrations


def encrypt_seeds(apps, schema_editor):
    from portal.mfa_crypto import seeds_encrypt_plaintext

    seeds_encrypt_plaintext(apps.get_model("mfa", "Authenticator"))


def decrypt_seeds(apps, schema_editor):
    from portal.mfa_crypto import seeds_decrypt_all

    seeds_decrypt_all(apps.get_model("mfa", "Authenticator"))


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_api_token_expiry_scope"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_seeds, decrypt_seeds)]
