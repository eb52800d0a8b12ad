from connectors.providers.base import get_provider

__all__ = ["get_provider"]
