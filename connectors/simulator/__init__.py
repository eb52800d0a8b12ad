"""A local Webex + Zoom API simulator for the demo, the tests and the benchmarks.

Pure standard library (``http.server``, threaded); no Django import, so it starts
fast anywhere. It is deliberately as strict as the real services, never kinder.

Starting it
-----------
- ``python manage.py simulator --port 9100 [--host 127.0.0.1] [--seed N] [--knob name=value]``
  serves until Ctrl-C and prints one line per demo OAuth client:
  ``simulator client provider=webex client_id=... client_secret=...``.
- ``start_in_thread(port=0) -> SimulatorHandle`` with ``.base_url``, ``.webex_base_url``,
  ``.zoom_oauth_base_url``, ``.zoom_api_base_url``, ``.state`` and ``.stop()``.
- pytest: the ``simulator`` fixture in ``tests/fixtures/simulator.py``.

Base URLs: ``{base}/webex/v1`` (API and OAuth: ``/authorize``, ``/access_token``),
``{base}/zoom`` (OAuth: ``/oauth/authorize``, ``/oauth/token``, ``/oauth/revoke``; also the
token's ``api_url``) and ``{base}/zoom/v2`` (API).

Demo clients (constants in ``seed.DEMO_CLIENTS``; any redirect URI on 127.0.0.1 or
localhost is accepted): one Webex client for org "acme" (authorising user
``Ada.Admin@acme.example``, a full admin); Zoom client ``SimZoomFullClient01`` for account
"full" (Business, Zoom Phone and webinars, granular scopes) and ``SimZoomBasicClient2``
for account "basic" (no Zoom Phone, no webinars, classic scopes).

Control endpoints (JSON bodies; never part of the provider surface)
--------------------------------------------------------------------
- ``POST /_sim/reset`` ``{"seed": N, "knobs": {...}}``: rebuild data, forget tokens,
  faults, limits and the log.
- ``GET|POST /_sim/knobs``: read or change knobs at runtime.
- ``POST /_sim/faults`` (a ``FaultRule``: ``provider``, ``path_prefix``, ``method``,
  ``status``, ``headers``, ``body``, ``count``, ``skip`` (let the first N matches
  through), ``kind`` = status|bad_json|html|slow, ``delay``), ``GET /_sim/faults``,
  ``DELETE /_sim/faults``.
- ``GET /_sim/requests?provider=&path_prefix=``, ``DELETE /_sim/requests``: the request log
  (provider, method, path, query with secrets redacted, status, token_fingerprint = first
  12 hex digits of the token's SHA-256; token values are never stored).
- ``POST /_sim/tokens`` ``{"provider", "client_id"?, "account"?, "user_email"?, "scopes"?,
  "lifetime"?}`` mints a token pair without the OAuth dance; ``POST /_sim/tokens/expire``
  and ``/_sim/tokens/revoke`` ``{"token"}``; ``POST /_sim/page-tokens/expire`` ages every
  Zoom ``next_page_token`` past 15 minutes; ``GET /_sim/clients`` lists the demo clients.
- ``GET /_sim/truth/zoom-counts?email=&account=full&lookback_days=365``: the answer of
  ``state.expected_zoom_counts`` (below), for a simulator running in another process.

The same operations in Python on ``SimulatorState``: ``reset(seed, **knobs)``,
``configure(**knobs)``, ``add_fault(**rule)``, ``clear_faults()``, ``requests(provider,
path_prefix)``, ``clear_log()``, ``mint_token(...)``, ``expire_token(t)``,
``revoke_token(t)``, ``expire_cursors()``.

Knobs (``knobs.Knobs``; constructor, CLI ``--knob``, ``/_sim/knobs``, ``configure``)
----------------------------------------------------------------------------------
``seed``; ``consent_page`` (False: authorize redirects at once; True: an HTML page with
``#approve``/``#deny`` links); ``authorize_users`` (``{"webex"|"zoom": email}``: who signs
in at authorize instead of the demo admin, e.g. a non-admin);
``code_lifetime_webex``/``code_lifetime_zoom`` (300 s);
``webex_access_lifetime`` (1209599), ``webex_refresh_lifetime`` (90 days),
``webex_rotate_refresh`` (False); ``zoom_access_lifetime`` (3599), ``zoom_refresh_lifetime``
(15 years), ``access_lifetime_by_client`` (``{client_id: seconds}``, overrides the
provider's access lifetime for that client), ``zoom_reauth_revokes_previous`` (True: a
new code exchange for the same client and user revokes older grants, Zoom's 4741);
``webex_link_defects`` (next URLs carry ``max=null`` and drop every other query
parameter); ``webex_instance_cap`` (10000);
``webex_people_me_requires_scope`` (False); ``webex_rate_per_minute`` (300) over
``webex_rate_window`` (60 s) per token (a sliding window: the product is never told
the figure; the bench sets 50 per 1 s); ``webex_extra_instances`` and
``webex_extra_subjects`` (0; applied at reset: that many more ended instances over
the last year, and people ``seed.BENCH_SUBJECT_EMAIL`` in about 20 of them each);
``zoom_extra_call_logs`` (0; applied at reset: that many more call logs of the subject in
account "full" over the last 175 days, for "six months of call logs" benchmarks);
``zoom_email_case_sensitive`` (False);
``zoom_page_token_ttl`` (900 s); ``zoom_qps`` (``{"Light": 80, "Medium": 60}``,
Business+) over ``zoom_qps_window`` (1 s) per account and category; ``zoom_daily_limit``
(per category, none by default); ``zoom_ratelimit_headers`` (True);
``zoom_qps_retry_after`` (False); random faults from the seeded RNG: ``fault_provider``,
``latency`` (seconds, every request), ``rate_429``, ``rate_5xx``, ``rate_malformed``
(bad JSON or an HTML 502), ``rate_bad_body`` (a 200 with truncated JSON or a JSON array
instead of an object), ``rate_slow`` with ``slow_seconds``.

Seeded data (``seed.py``; anchored to the reset time floored to the UTC day)
-----------------------------------------------------------------------------
The subject is ``seed.SUBJECT_EMAIL`` (``dana.kowalski@acme.example``), stored by both
providers as ``Dana.Kowalski@Acme.example``; ``seed.UNKNOWN_EMAIL`` exists nowhere.
Webex (about 425 instances over 13 months): the subject hosting and joining, hosting
but absent, participant only, two records for one person (rejoined), alone, 1-on-1s
with and without the subject, 162- and 232-participant meetings (the latter stores the
subject as ``DANA.KOWALSKI@ACME.EXAMPLE``), an instance 395 days old, one in progress
all day, a weekly series with upcoming occurrences, HTML and CSV-formula titles,
non-ASCII names; ``Nina.Nutzer@acme.example`` is a non-admin host.
Zoom "full": admin ``Olga.Owner@acme.example``, the subject (Phone licence; meetings of
every list type plus expired and instant ones that never list; webinars; cloud
recordings over 13 months, some in the trash; call logs, voicemails, phone recordings
over seven months), ``Sam.Nophone@acme.example`` (no Phone licence), an inactive and a
pending user, 40 more users. Zoom "basic": admin ``Bea.Basic@basic.example`` and the
subject stored as ``dana.KOWALSKI@acme.example``.

The built organisation is cached per (seed, day) and shared: treat ``state.org`` as
read-only. Seeds build in well under 0.1 s.

Expected answers (computed from the seed data, not through HTTP)
-----------------------------------------------------------------
- ``state.expected_webex_meetings(email, start=None, end=None)`` (default: the last 365
  days): one dict per ended or in-progress instance with ``start`` in ``[start, end)``
  where a participant record's email equals ``email`` (trimmed, case-insensitive):
  ``id``, ``title``, ``start``, ``host_email``, ``subject_is_host``,
  ``participant_records`` (all records, as the API lists them), ``distinct_participants``
  (distinct emails), ``subject_records`` and ``is_1_on_1`` (two distinct people).
- ``state.expected_zoom_counts(email, account="full", lookback_days=365)``: ``found``,
  ``user_id``, ``settings``, ``meetings`` (unique ids over every list type),
  ``webinars``, ``recordings`` (cloud, not trashed, start date within the lookback),
  ``phone_profile``, ``phone_settings``, ``call_logs``, ``voice_mails``,
  ``phone_recordings`` (within the six-month reach), with ``None`` and a ``reasons``
  entry (``no_webinar_plan``, ``phone_not_enabled``, ``no_phone_licence``,
  ``not_found``) where the account or user has no such data.

Behaviour choices where the providers' documentation is silent or unconfirmed
------------------------------------------------------------------------------
(docs/providers.md says which facts are confirmed.)
- Webex ``code_verifier`` is the PKCE parameter name; only S256 is accepted (``plain`` or
  a method without a challenge is ``invalid_request``). Presenting a code burns it, even
  when the exchange then fails. Code lifetime 5 minutes for both providers.
- Webex token errors: ``{message, errors, trackingId, error}``; 401 ``invalid_client``
  for bad credentials (a Basic header is not accepted), 400 ``invalid_grant`` otherwise.
  No ``scope`` in the token response; the refresh token stays the same (knob rotates).
- Webex authorize requires ``scope`` (a subset of the registered scopes, else
  ``invalid_scope``); Zoom ignores ``scope`` and grants the app's configured scopes.
  Admin scopes only count for a person with an admin role (``Ada.Admin``).
- Webex ``GET /meetings`` enforces no maximum ``from``/``to`` span; lists are sorted by
  start time; with ``meetingType=meeting`` listing silently stops after
  ``webex_instance_cap`` instances (no error, no further ``next`` link). 429s carry
  ``Retry-After`` in whole seconds until the per-token window frees a slot.
- Webex ``hostEmail`` without the admin scope and an admin role is ignored (own meetings
  are listed); an unknown ``hostEmail`` gives an empty list. ``max`` outside 1..100 or
  ``max=null`` is a 400. The next URL is opaque (``cursor=``) and the query is
  re-evaluated from the parameters in that URL, so dropped parameters change results.
- Webex participants: in-progress instances list those who joined (``state=joined``,
  no ``leftTime``, with ``orgId``); ended instances show nobody until 15 minutes after
  the end. A series or occurrence id resolves to its last started instance within
  ``meetingStartTimeFrom/To`` (default: the last 31 days). No join-time filter unless
  ``joinTimeFrom``/``joinTimeTo`` is given; the interval must be at most 90 days.
  ``POST /meetingParticipants/query`` matches ``emails`` exactly (case-sensitive, the
  stricter choice), without pagination. The host needs ``meeting:participants_read``.
- Webex missing scope: 403 with the usual body. ``/people/me`` needs no scope (knob) and
  omits ``invitePending``/``loginEnabled`` (the spec types them as strings, observed
  responses as booleans; leaving them out keeps the contract test honest).
- Webex participants' ``joinedTime``/``leftTime`` and meeting times are whole-second UTC
  (``...Z``) whatever the ``timezone`` header says (the header only places naive
  ``from``/``to`` values); ``meetingNumber`` is hidden on ended instances, as the spec
  describes.
- Zoom: scopes with ``:admin`` (or classic ``…:admin``) reach every user of the account;
  user-level scopes reach only ``me`` (or the caller's own id/email); otherwise
  400/4711 naming the accepted scopes. ``{userId}`` email lookups are case-insensitive
  (knob). ``page_size`` above 300 is capped to 300; a ``next_page_token`` is bound to the
  path, account, filters and page size. Account without webinars: 400 code 200 "Webinar
  plan is missing…". A user without a Phone licence, or not active: 404/1001 on every
  phone endpoint; an account without Phone: 403/2031 first.
- Zoom ``/users/{id}/meetings``: ``scheduled`` = previous + live + upcoming,
  ``upcoming`` = live + upcoming, ``upcoming_meetings`` = upcoming only,
  ``previous_meetings`` = ended and unexpired; instant and expired meetings never list.
- Zoom recordings: ``from``/``to`` only as ``yyyy-mm-dd``; ``from`` defaults to today,
  ``to`` to ``from`` + 1 day; ``to`` may be at most one calendar month after ``from``
  (both dates inclusive).
- Zoom Phone history also accepts ``yyyy-MM-ddTHH:mm:ssZ``; ``to`` is required with
  ``from`` for call logs (400/300); ``from`` older than six calendar months before today
  is a 400/300; call logs default to the last 24 hours, voicemails and recordings to the
  last 30 days; a ``to`` date covers that whole day.
- Zoom pending users appear only with ``status=pending`` and without ``id``; they can
  still be fetched by email (the 1120 invitation error is not simulated). Deleted users
  and 4735 are not simulated. Refresh tokens live 15 years (knob); the old access
  token stays valid until it expires after a refresh.
- Zoom revoke answers ``{"status": "success"}``; an unknown token 400 ``invalid_request``.
- Zoom QPS 429s carry ``X-RateLimit-Category/Type/Limit/Remaining`` but no ``Retry-After``
  (knob adds seconds); daily-limit 429s carry ``Retry-After`` as an ISO timestamp of the
  next UTC midnight; ``zoom_ratelimit_headers=False`` omits all of them.
"""

from __future__ import annotations

from .knobs import FaultRule, Knobs
from .server import SimulatorHandle, serve_forever, start_in_thread
from .state import SimulatorState, fingerprint

__all__ = [
    "FaultRule",
    "Knobs",
    "SimulatorHandle",
    "SimulatorState",
    "fingerprint",
    "serve_forever",
    "start_in_thread",
]
