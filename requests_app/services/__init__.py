"""Business rules for privacy requests: every write to a request goes through here."""
