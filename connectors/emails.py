"""The one form email addresses are compared and stored in.

Providers match participants and users with it, intake stores subjects' emails with
it and duplicate detection looks them up with it, so "Ann@X.com " and "ann@x.com"
are the same person everywhere. Pure Python: providers may import it.
"""

from __future__ import annotations

from typing import Any


def email_normalize(value: Any) -> str:
    """Trimmed and lower-cased; "" for anything that is not a string."""
    return value.strip().lower() if isinstance(value, str) else ""
