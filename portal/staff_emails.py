"""Every staff account's own address is known to allauth as verified and primary.

Accounts are made by administrators only (``createsuperuser``, the admin, the
demo command), never by sign-up, so the address they enter is trusted. allauth
otherwise records it as unverified the first time it looks (the email page, a
password reset), and refuses TOTP enrolment while any address is unverified:
with ``PORTAL_REQUIRE_MFA`` that locked the first administrator out.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from portal.models import User


def staff_email_address_ensure(user: User) -> EmailAddress:
    """Record ``user.email`` as the user's verified, primary address."""
    with transaction.atomic():
        EmailAddress.objects.filter(user=user, primary=True).exclude(email=user.email).update(
            primary=False
        )
        address, _ = EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
    return address


@receiver(post_save, sender=User, dispatch_uid="portal_staff_email_address")
def _on_user_saved(sender, instance: User, created: bool, update_fields=None, **kwargs) -> None:
    if kwargs.get("raw") or not instance.email:
        return
    if update_fields is not None and "email" not in update_fields:
        return  # e.g. last_login on every sign-in
    staff_email_address_ensure(instance)
