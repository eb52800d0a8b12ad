from django.shortcuts import render

from portal.permissions import staff_required


@staff_required
def dashboard(request):
    return render(request, "portal/dashboard.html", {})


def permission_denied(request, exception=None):
    return render(request, "403.html", status=403)


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def server_error(request):
    return render(request, "500.html", status=500)
