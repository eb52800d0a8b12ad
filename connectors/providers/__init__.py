from connectors.providers.registry import all_providers, choices, get_provider

__all__ = ["all_providers", "choices", "get_provider"]
