"""The delivery dashboard in a real browser: messages sent through the API and walked to their
outcome by the simulator carrier show up in its figures, charts and top errors, live, and the
page fits a 375 px screen. Same browser and server fixtures as messaging/tests/test_browser_ui.py."""

import time

import pytest

from messaging.tests import test_browser_pages as pages
from messaging.tests import test_browser_ui as ui

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

browser, fake_carrier, server = ui.browser, ui.fake_carrier, ui.server


def wait_for_status(server, key: str, message_id: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pages.api(server, key, f"/api/messages/{message_id}")["status"] == status:
            return
        time.sleep(0.3)
    raise AssertionError(f"{message_id} never became {status}")


def figure(page, name: str) -> str:
    return page.locator(f"[data-figure='{name}']").inner_text()


def test_the_dashboard_shows_what_was_sent_and_delivered_and_follows_new_messages(browser, server):
    ready = pages.Ready()
    delivered = pages.api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "Hello"})
    unreachable = pages.api(server, ready.key, "/api/messages", {"to": "+15005550002", "body": "Hi"})
    wait_for_status(server, ready.key, delivered["id"], "delivered")
    wait_for_status(server, ready.key, unreachable["id"], "undelivered")

    context, page = ui.new_page(browser, server)
    pages.log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/")
    page.wait_for_url(f"**/w/{ready.ws}/dashboard/")
    assert figure(page, "sent") == "2"
    assert figure(page, "delivered") == "1"
    assert figure(page, "undelivered") == "1"
    assert figure(page, "delivery_rate") == "50.0%"
    assert figure(page, "median_seconds_to_delivered").endswith(" s")
    errors = page.locator("[data-top-errors] tbody").inner_text()
    assert "30003" in errors and "could not be reached" in errors
    # The charts are drawn by the library served from our own static files.
    assert page.evaluate("typeof Chart") == "function"
    assert page.evaluate("Chart.getChart(document.querySelector('[data-chart=volume]')) !== undefined")
    ui.shot(page, "dashboard")

    # A new message shows without a reload (the page asks the API again every 15 s).
    page.evaluate("window.__notReloaded = true")
    third = pages.api(server, ready.key, "/api/messages", {"to": "+14155550122", "body": "Again"})
    wait_for_status(server, ready.key, third["id"], "delivered")
    page.locator("[data-figure='delivered']").filter(has_text="2").wait_for(timeout=25_000)
    assert page.evaluate("window.__notReloaded") is True
    assert figure(page, "sent") == "3"

    # Broken down by country, with the names the browser knows.
    page.get_by_label("Break down by").select_option("country")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**group_by=country**")
    assert "United States" in page.locator("[data-breakdown]").inner_text()

    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the dashboard is {overflow} px wider than a 375 px screen"
    ui.shot(page, "dashboard-375")
    context.close()
