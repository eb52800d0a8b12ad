"""A real browser: sign in, connect Webex through the simulator, open a request and
watch the page follow the fetch by itself (the page's own JavaScript, under the CSP):
the results table, then the whole page state from Processing to In review."""

from __future__ import annotations

import shutil

import pytest
from django.db import transaction
from django.utils import timezone

from connectors.models import Connection
from connectors.simulator.seed import DEMO_CLIENTS, SUBJECT_EMAIL
from requests_app.models import PrivacyRequest, Result
from requests_app.services.fetching.lifecycle import result_transition
from tests.factories import TEST_PASSWORD, ConnectionFactory, StaffFactory

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
    ),
]
WEBEX = next(c for c in DEMO_CLIENTS if c.provider == "webex")


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def wait(browser, seconds: float = 15) -> WebDriverWait:
    # While a redirect chain replaces the page, an element found a moment ago can
    # vanish before its text is read: Chromium then answers "Node with given id does
    # not belong to the document", an error Selenium does not count as stale. Such a
    # miss is asked again; a condition that never holds still times out.
    return WebDriverWait(browser, seconds, ignored_exceptions=(WebDriverException,))


def test_connect_fetch_and_live_results(browser, live_server, simulator, settings):
    settings.PORTAL_BASE_URL = live_server.url  # the redirect URI the simulator sends back to
    settings.FETCH_LOOKBACK_DAYS = 30
    user = StaffFactory()
    connection = ConnectionFactory(
        provider="webex", client_id=WEBEX.client_id, client_secret=WEBEX.client_secret
    )

    browser.get(f"{live_server.url}/accounts/login/")
    browser.find_element(By.NAME, "login").send_keys(user.email)
    browser.find_element(By.NAME, "password").send_keys(TEST_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(browser).until(EC.url_to_be(f"{live_server.url}/"))

    # Connect: the button posts, the simulator approves, the callback verifies.
    browser.get(f"{live_server.url}/connections/{connection.pk}/")
    browser.find_element(By.XPATH, "//button[contains(., 'Connect with Webex')]").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Active"))
    assert "is connected and verified" in browser.page_source
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE

    # A new access request fetches at once (tasks run in-process in tests).
    browser.get(f"{live_server.url}/requests/new/")
    browser.find_element(By.NAME, "email").send_keys(SUBJECT_EMAIL.upper())
    browser.find_element(By.NAME, "name").send_keys("Dana")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(browser).until(EC.url_matches(r"/requests/\d+/$"))
    request = PrivacyRequest.objects.get()
    assert request.subject_email == SUBJECT_EMAIL
    table = browser.find_element(By.ID, "results")
    assert "Finished" in table.text and "Meeting:" in table.text

    # The live table: while a fetch runs the page polls and swaps in the new state.
    result = request.results.get()
    Result.objects.filter(pk=result.pk).update(
        status=Result.Status.RUNNING, heartbeat_at=timezone.now()
    )
    browser.refresh()
    assert browser.find_element(By.ID, "results").get_attribute("data-refresh-url")
    Result.objects.filter(pk=result.pk).update(status=Result.Status.SUCCEEDED)
    wait(browser).until(
        lambda b: (
            "Finished" in b.find_element(By.ID, "results").text
            and not b.find_element(By.ID, "results").get_attribute("data-refresh-url")
        )
    )

    # The whole page follows a fetch to review without a reload: badge, actions, timeline.
    PrivacyRequest.objects.filter(pk=request.pk).update(status=PrivacyRequest.Status.PROCESSING)
    Result.objects.filter(pk=result.pk).update(
        status=Result.Status.RUNNING, heartbeat_at=timezone.now()
    )
    browser.refresh()
    assert "Processing" in browser.find_element(By.ID, "request-status").text
    assert "Review the data" not in browser.find_element(By.ID, "request-actions").text
    change = "Status: processing → in review"
    seen = browser.find_element(By.ID, "timeline").text.count(change)  # the first fetch's
    browser.execute_script("window.__sameDocument = true;")  # gone if the page reloads
    with transaction.atomic():
        result_transition(Result.objects.select_for_update().get(pk=result.pk), "succeeded")
    assert PrivacyRequest.objects.get(pk=request.pk).status == PrivacyRequest.Status.IN_REVIEW
    wait(browser).until(
        lambda b: (
            "In review" in b.find_element(By.ID, "request-status").text
            and "Review the data" in b.find_element(By.ID, "request-actions").text
            and b.find_element(By.ID, "timeline").text.count(change) == seen + 1
        )
    )
    timeline = browser.find_element(By.ID, "timeline").text
    assert "fetch finished" in timeline and "The portal (automatic)" in timeline
    assert browser.execute_script("return window.__sameDocument === true;")
    assert not browser.find_element(By.ID, "results").get_attribute("data-refresh-url")

    problems = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
    ]
    assert problems == []
