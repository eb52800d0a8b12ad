"""The simulator's root page: a short HTML page naming its base URLs and demo clients.

Someone who opens the simulator's address in a browser (``make run`` prints it)
learns what it is and how to use it, instead of meeting a JSON 404. Standard
library only, like the rest of the simulator.
"""

from __future__ import annotations

from html import escape

from .http import Request, Response
from .seed import DEMO_CLIENTS, sample_subjects

_ACCOUNTS = {
    ("webex", "acme"): "Webex organisation “Acme” (the connecting person is an administrator)",
    ("zoom", "full"): "Zoom account with Business and Zoom Phone (granular scopes)",
    ("zoom", "basic"): "Zoom account without Zoom Phone (classic scopes)",
}


def home_page(req: Request) -> Response:
    """The page for ``GET /``; base URLs are built from the Host the browser used."""
    host = req.headers.get("host", "127.0.0.1")
    base = f"http://{escape(host)}"
    rows = []
    for c in DEMO_CLIENTS:
        account = _ACCOUNTS.get((c.provider, c.account), c.account)
        cells = (
            escape(c.provider.capitalize()),
            f"<code>{escape(c.client_id)}</code>",
            f"<code>{escape(c.client_secret)}</code>",
            escape(account),
        )
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    clients = "".join(rows)
    subjects = "".join(
        f"<li><code>{escape(s.email)}</code>: {escape(s.holds)}</li>" for s in sample_subjects()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Webex and Zoom simulator</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto">
<h1>Webex and Zoom simulator</h1>
<p>A local stand-in for the Webex and Zoom APIs with made-up data, for the DSAR portal's
demo and tests. It answers like the real APIs, errors and limits included. There is
nothing to click here: connect the portal's simulator connections and it signs in by itself.</p>
<h2>Base URLs</h2>
<ul>
<li>Webex API and OAuth: <code>{base}/webex/v1</code></li>
<li>Zoom OAuth: <code>{base}/zoom</code> (authorize at <code>/zoom/oauth/authorize</code>)</li>
<li>Zoom API: <code>{base}/zoom/v2</code></li>
</ul>
<h2>Demo OAuth clients</h2>
<table border="1" cellpadding="4" style="border-collapse: collapse">
<thead><tr><th>Provider</th><th>Client ID</th><th>Client secret</th><th>Account</th></tr></thead>
<tbody>{clients}</tbody></table>
<h2>Sample data subjects</h2>
<ul>{subjects}</ul>
</body></html>
"""
    return Response.html(200, page)
