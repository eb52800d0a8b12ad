"""The one error for a stored secret that no configured key decrypts."""


class DecryptionError(RuntimeError):
    """A stored secret does not decrypt with any configured FIELD_ENCRYPTION_KEY."""
