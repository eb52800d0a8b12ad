"""Connection pages: list, create, detail, connect/callback, verify, disconnect, delete."""

from __future__ import annotations

import logging

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from connectors import oauth, selectors, services
from connectors.exceptions import ApiError
from connectors.forms import ConfirmDeleteForm, ConnectionCreateForm, ConnectionUpdateForm
from connectors.models import Connection
from connectors.providers import all_providers, get_provider
from portal.audit import audit_events_for
from portal.permissions import staff_required

logger = logging.getLogger(__name__)


@staff_required
def connection_list(request):
    return render(
        request, "connectors/connection_list.html", {"connections": selectors.connection_list()}
    )


@staff_required
def connection_create(request):
    form = ConnectionCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        connection = services.connection_create(
            created_by=request.user,
            **{f: form.cleaned_data[f] for f in ConnectionCreateForm.Meta.fields},
        )
        messages.success(
            request,
            f"Connection {connection.name} created. Register the redirect URI below with "
            f"{connection.get_provider_display()}, then connect.",
        )
        return redirect("connectors:detail", pk=connection.pk)
    return render(
        request,
        "connectors/connection_form.html",
        {
            "form": form,
            "redirect_uris": {p.slug: oauth.redirect_uri(p.slug) for p in all_providers()},
        },
    )


@staff_required
def connection_edit(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    form = ConnectionUpdateForm(request.POST or None, instance=connection)
    if request.method == "POST" and form.is_valid():
        fields = {
            f: form.cleaned_data[f]
            for f in ConnectionUpdateForm.Meta.fields
            if f != "client_secret" and f in form.changed_data
        }
        services.connection_update(
            connection=Connection.objects.get(pk=pk),
            actor=request.user,
            client_secret=form.cleaned_data.get("client_secret") or "",
            **fields,
        )
        messages.success(request, "Connection saved.")
        return redirect("connectors:detail", pk=pk)
    return render(
        request, "connectors/connection_form.html", {"form": form, "connection": connection}
    )


@staff_required
def connection_detail(request, pk: int):
    connection = get_object_or_404(Connection.objects.select_related("authorised_by"), pk=pk)
    response = render(
        request,
        "connectors/connection_detail.html",
        {
            "connection": connection,
            "provider": get_provider(connection.provider),
            "scopes": selectors.connection_scope_report(connection),
            "redirect_uri": oauth.redirect_uri(connection.provider),
            "events": audit_events_for(connection)[:20],
        },
    )
    # The Connect form's answer redirects to the provider: CSP form-action covers
    # redirects after a submission, so this page allows the authorize origin too.
    response._csp_update = {"form-action": [oauth.authorize_origin(connection.provider)]}
    return response


@staff_required
@require_POST
def connection_connect(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    if connection.access_mode != Connection.AccessMode.API:
        messages.error(request, "This connection is Direct Contact only; it needs no sign-in.")
        return redirect("connectors:detail", pk=pk)
    return redirect(oauth.authorization_url(request=request, connection=connection))


def _callback_error(request, message: str, status: int = 400) -> HttpResponse:
    response = render(request, "connectors/oauth_error.html", {"message": message}, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


@staff_required
@require_GET
def oauth_callback(request, provider: str):
    """Check state first; only then talk to the token endpoint."""
    try:
        get_provider(provider)
    except LookupError:
        raise Http404 from None
    try:
        pending = oauth.pop_state(
            request=request, provider_slug=provider, state=request.GET.get("state")
        )
    except oauth.OAuthStateError as exc:
        return _callback_error(request, str(exc))
    connection = Connection.objects.filter(pk=pending.connection_id, provider=provider).first()
    if connection is None:
        return _callback_error(request, "The connection no longer exists.", status=404)
    if request.GET.get("error"):
        return _callback_error(
            request,
            f"{connection.get_provider_display()} did not grant access "
            "(the request was denied or cancelled). Nothing was changed.",
        )
    code = request.GET.get("code")
    if not code:
        return _callback_error(request, "The provider's answer had no authorisation code.")
    try:
        tokens = oauth.exchange_code(
            connection=connection, code=code, code_verifier=pending.code_verifier
        )
    except ApiError as exc:
        logger.warning(
            "code exchange failed",
            extra={"connection_id": connection.pk, "error_code": exc.code},
        )
        return _callback_error(
            request,
            f"{connection.get_provider_display()} refused to complete the sign-in "
            f"({exc.code}). Check the client ID, client secret and the registered redirect "
            "URI, then connect again.",
            status=502 if exc.status is None or exc.status >= 500 else 400,
        )
    connection = services.connection_store_authorization(
        connection_id=connection.pk, tokens=tokens, actor=request.user
    )
    services.connection_verify(connection=connection, actor=request.user)
    connection.refresh_from_db()
    if connection.status == Connection.Status.ACTIVE and not connection.last_error:
        messages.success(request, f"{connection.name} is connected and verified.")
    else:
        messages.warning(request, f"{connection.name} is connected, but needs attention.")
    response = redirect("connectors:detail", pk=connection.pk)
    response["Referrer-Policy"] = "no-referrer"
    return response


@staff_required
@require_POST
def connection_verify(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    if not connection.access_token:
        messages.error(request, "Connect first: there is no access token to verify.")
        return redirect("connectors:detail", pk=pk)
    services.connection_verify(connection=connection, actor=request.user)
    connection.refresh_from_db()
    if connection.status == Connection.Status.ACTIVE:
        messages.success(request, "Verified: the connection works.")
    else:
        messages.error(request, "Verification failed. See the last error below.")
    return redirect("connectors:detail", pk=pk)


@staff_required
@reauthentication_required(allow_get=True)
def connection_disconnect(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    if request.method == "POST":
        services.connection_disconnect(connection=connection, actor=request.user)
        messages.success(request, f"{connection.name} is disconnected; its tokens were deleted.")
        return redirect("connectors:detail", pk=pk)
    provider = get_provider(connection.provider)
    return render(
        request,
        "connectors/connection_confirm.html",
        {
            "connection": connection,
            "heading": "Disconnect",
            "explanation": (
                "Disconnecting deletes the stored tokens"
                + (f" and revokes them at {provider.display_name}." if provider.revoke_url else ".")
                + " Remove the app's grant in the provider's admin console too if you no "
                "longer use it. Running fetches will pause until you reconnect."
            ),
            "button": "Disconnect",
        },
    )


@staff_required
@reauthentication_required(allow_get=True)
def connection_delete(request, pk: int):
    connection = get_object_or_404(Connection, pk=pk)
    form = ConfirmDeleteForm(request.POST or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        services.connection_delete(connection=connection, actor=request.user)
        messages.success(request, f"{connection.name} was deleted and its tokens wiped.")
        return redirect("connectors:list")
    return render(
        request,
        "connectors/connection_confirm.html",
        {
            "connection": connection,
            "form": form,
            "heading": "Delete connection",
            "explanation": (
                "Deleting removes the connection and wipes its tokens. Requests keep what was "
                "already fetched, under the connection's name."
            ),
            "button": "Delete connection",
        },
    )
