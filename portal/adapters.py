"""allauth hooks: staff accounts are created by administrators, never by sign-up;
MFA seeds are encrypted at rest."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter

from portal.mfa_crypto import seed_decrypt, seed_encrypt


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False


class StaffMFAAdapter(DefaultMFAAdapter):
    """TOTP and recovery-code seeds stored as Fernet tokens (see portal/mfa_crypto.py)."""

    def encrypt(self, text: str) -> str:
        return seed_encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return seed_decrypt(encrypted_text)
