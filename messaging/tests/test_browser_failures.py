"""Failed messages, opt-outs and scheduling in a real browser (issues 15.9 and 15.10): a failure is
red and explained with what to do, and can be retried; a STOP shows a banner that turns the
composer off, live; opt-outs are added and removed by hand with the audit log saying who; the
composer schedules in the workspace's time zone, and a scheduled message can be canceled."""

import re
import urllib.error
import zoneinfo
from datetime import datetime, timedelta

import pytest

from messaging.models import ConsentEvent, Message, OptOut, Status
from messaging.tests import test_browser_pages as pages
from messaging.tests import test_browser_ui as ui
from numbers.providers.simulator import FAILED_NUMBER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

browser, fake_carrier, server = ui.browser, ui.fake_carrier, ui.server
api, log_in, Ready = pages.api, pages.log_in, pages.Ready


def test_a_failed_message_is_red_explained_and_retried(browser, server):
    ready = Ready()
    context, page = ui.new_page(browser, server)
    log_in(page, "nia@example.com")
    sent = api(server, ready.key, "/api/messages", {"to": FAILED_NUMBER, "body": "Your code is 1234"})
    page.goto(f"/w/{ready.ws}/inbox/{sent['conversation_id']}/")
    page.evaluate("window.__notReloaded = true")
    # The simulator fails it a moment later: the bubble turns red live, with the code explained.
    bubble = page.locator(f".bubble[data-message-id='{sent['id']}']")
    page.wait_for_selector(f".bubble.failed[data-message-id='{sent['id']}']")
    assert page.evaluate("window.__notReloaded") is True
    colour = bubble.locator(".bubble-body").evaluate("node => getComputedStyle(node).backgroundColor")
    assert colour == "rgb(254, 240, 238)"  # the danger colour, not the blue of a sent message
    assert "Error 30008" in bubble.inner_text()
    help_text = bubble.locator("[data-error-help]").inner_text()
    assert "The carrier reported an unknown error." in help_text
    assert "What to do: Try again later" in help_text

    # Retry: queued again through the lifecycle (and the simulator fails it once more).
    bubble.get_by_role("button", name="Retry").click()
    ui.expect_text(page, "The message was queued again.")
    assert page.url.endswith(f"/inbox/{sent['conversation_id']}/")
    page.wait_for_selector(f".bubble.failed[data-message-id='{sent['id']}'] [data-retry]")
    page.goto(f"/w/{ready.ws}/messages/{sent['id']}/")
    ui.expect_text(page, "from the web UI")
    assert page.locator("[data-error-help]").inner_text().startswith("The carrier reported")
    page.goto(f"/w/{ready.ws}/messages/")
    assert "failed" in page.locator(f"[data-message-row='{sent['id']}']").get_attribute("class")
    context.close()


def test_a_stop_shows_a_banner_and_turns_the_composer_off_live(browser, server):
    ready = Ready()
    sent = api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "Hello"})
    context, page = ui.new_page(browser, server)
    log_in(page, "nia@example.com")
    thread_url = f"/w/{ready.ws}/inbox/{sent['conversation_id']}/"
    page.goto(thread_url)
    page.evaluate("window.__notReloaded = true")
    banner = page.locator("[data-opt-out-banner]")
    assert banner.is_hidden()
    assert page.get_by_label("Message", exact=True).is_enabled()
    # The contact texts STOP (another tab makes the simulator deliver it).
    other = context.new_page()
    other.goto(thread_url)
    other.get_by_label(re.compile("Simulate a reply")).fill("STOP")
    other.get_by_role("button", name="Simulate reply").click()
    banner.wait_for(state="visible")
    assert "opted out" in banner.inner_text() and "texted STOP" in banner.inner_text()
    assert page.get_by_label("Message", exact=True).is_disabled()
    assert page.get_by_role("button", name="Send").is_disabled()
    assert page.evaluate("window.__notReloaded") is True
    # START lets them back in, live too.
    other.get_by_label(re.compile("Simulate a reply")).fill("START")
    other.get_by_role("button", name="Simulate reply").click()
    banner.wait_for(state="hidden")
    assert page.get_by_label("Message", exact=True).is_enabled()
    # A page opened while they are opted out starts with the banner.
    OptOut.objects.create(workspace=ready.workspace, phone_number="+14155550111", keyword="STOP")
    page.goto(thread_url)
    assert banner.is_visible() and page.get_by_role("button", name="Send").is_disabled()
    context.close()


def test_opt_outs_are_added_and_removed_by_hand_with_who_did_it(browser, server):
    ready = Ready()
    context, page = ui.new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/settings/opt-outs/")
    page.get_by_label("Phone number").fill("not a number")
    page.get_by_role("button", name="Add opt-out").click()
    ui.expect_text(page, "is not a phone number")
    page.get_by_label("Phone number").fill("+1 415 555 0199")
    page.get_by_role("button", name="Add opt-out").click()
    ui.expect_text(page, "+14155550199 opted out")
    row = page.locator("[data-opt-out='+14155550199']")
    assert "Added by hand" in row.inner_text()
    # Sends to the number are refused now.
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(server, ready.key, "/api/messages", {"to": "+14155550199", "body": "Hi"})
    assert refused.value.code == 400 and b"recipient_opted_out" in refused.value.read()
    # Removed by hand, with a confirmation.
    row.get_by_text("Remove", exact=True).click()
    row.get_by_role("button", name="Remove +14155550199").click()
    ui.expect_text(page, "+14155550199 may receive messages again.")
    ui.expect_text(page, "Nobody has opted out.")
    assert api(server, ready.key, "/api/messages", {"to": "+14155550199", "body": "Hi"})["status"]
    # The consent trail and the audit log say who did it.
    trail = ConsentEvent.objects.filter(phone_number="+14155550199").order_by("created_at")
    assert [(e.action, e.keyword) for e in trail] == [("opt_out", "BY HAND"), ("opt_in", "BY HAND")]
    page.goto(f"/w/{ready.ws}/settings/audit-log/?kind=opt_out")
    log = page.locator("main").inner_text()
    assert "opt_out.created" in log and "opt_out.deleted" in log
    assert log.count("nia@example.com") >= 2
    context.close()


def test_the_composer_schedules_in_the_workspace_zone_and_a_scheduled_message_cancels(browser, server):
    ready = Ready()
    ready.workspace.timezone = "America/New_York"
    ready.workspace.save(update_fields=["timezone"])
    sent = api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "Hello"})
    context, page = ui.new_page(browser, server)
    log_in(page, "nia@example.com")
    thread_url = f"{server.url}/w/{ready.ws}/inbox/{sent['conversation_id']}/"
    page.goto(thread_url)

    zone = zoneinfo.ZoneInfo("America/New_York")
    # A time in the past is refused inline, on the thread.
    page.get_by_text("Schedule", exact=True).click()
    when = page.get_by_label("Send at (America/New_York time)")
    when.fill((datetime.now(zone) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Message", exact=True).fill("Too late")
    page.get_by_role("button", name="Send").click()
    ui.expect_text(page, "Must be in the future.")
    assert page.url == thread_url

    tomorrow = (datetime.now(zone) + timedelta(days=1)).replace(hour=9, minute=30, second=0, microsecond=0)
    page.get_by_label("Send at (America/New_York time)").fill(tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Message", exact=True).fill("See you tomorrow")
    page.get_by_role("button", name="Send").click()
    bubble = page.locator(".bubble", has_text="See you tomorrow")
    bubble.wait_for()
    assert bubble.locator("[data-status]").get_attribute("data-status") == "scheduled"
    message = Message.objects.get(body="See you tomorrow")
    assert message.scheduled_at == tomorrow  # 09:30 in New York, whatever the browser's zone

    bubble.get_by_role("button", name="Cancel").click()
    ui.expect_text(page, "The scheduled message was canceled.")
    bubble = page.locator(".bubble", has_text="See you tomorrow")
    assert bubble.locator("[data-status]").get_attribute("data-status") == "canceled"
    assert bubble.get_by_role("button", name="Cancel").count() == 0
    message.refresh_from_db()
    assert message.status == Status.CANCELED
    context.close()
