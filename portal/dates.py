"""Until merge only: ``add_months`` lives in ``connectors.dates``."""

from connectors.dates import add_months

__all__ = ["add_months"]
