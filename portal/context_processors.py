from django.conf import settings


def portal(request):
    return {
        "simulator_enabled": settings.SIMULATOR_ENABLED,
        "is_production": settings.IS_PRODUCTION,
    }
