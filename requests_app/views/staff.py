from django.shortcuts import render

from portal.permissions import staff_required
from requests_app.models import PrivacyRequest


@staff_required
def request_list(request):
    return render(
        request, "requests_app/request_list.html", {"requests": PrivacyRequest.objects.all()}
    )
