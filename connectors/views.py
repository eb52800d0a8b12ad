from django.shortcuts import render

from connectors.models import Connection
from portal.permissions import staff_required


@staff_required
def connection_list(request):
    return render(
        request, "connectors/connection_list.html", {"connections": Connection.objects.all()}
    )
