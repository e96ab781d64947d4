"""The smaller first-hour defects in a real browser (issues 15.11 and 15.13): sign-up shows the
password rules up front and every error at once; a lockout says how long it lasts; an API key on
/api/ui/ is told what is wrong; a WebSocket closed for a bad frame says why; a message sent from
the inbox says who sent it; the favicon; and the admin's message list and change page."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from accounts.models import User
from messaging.models import Direction, Message, Status
from messaging.tests import test_browser_pages as pages
from messaging.tests import test_browser_ui as ui
from messaging_platform.testing.live_server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

browser, fake_carrier, server = ui.browser, ui.fake_carrier, ui.server


@pytest.fixture
def strict_server(browser, transactional_db):
    """Three failed logins lock an account (the default allows ten)."""
    live = LiveServer(env={"LOGIN_FAILURE_RATE_PER_ACCOUNT": "3/15m"}).start()
    yield live
    live.stop()


def test_sign_up_shows_the_rules_first_and_every_error_at_once(browser, server):
    pages.Ready()  # nia@example.com exists
    context, page = ui.new_page(browser, server)
    page.goto("/signup/")
    rules = page.locator("#id_password_helptext")
    assert "at least" in rules.inner_text() and rules.is_visible()
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    errors = page.locator(".field .error").all_inner_texts()
    assert "This field is required." in errors  # the name
    assert "An account with this email already exists." in errors
    assert any("This password is too short" in e for e in errors)
    context.close()


def test_a_lockout_says_how_long_it_lasts(browser, strict_server):
    pages.Ready()
    context, page = ui.new_page(browser, strict_server)
    for _ in range(4):
        page.goto("/login/")
        page.get_by_label("Email").fill("nia@example.com")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
        page.locator(".alert").wait_for()
    assert re.search(
        r"Too many failed logins; try again in \d+ minutes?\.", page.locator(".alert").inner_text()
    )
    context.close()


def test_an_api_key_on_the_ui_api_is_told_what_is_wrong(browser, server):
    ready = pages.Ready()
    context, page = ui.new_page(browser, server)
    response = page.request.get(
        f"{server.url}/api/ui/workspaces/{ready.ws}/messages",
        headers={"Authorization": f"Bearer {ready.key}"},
    )
    assert response.status == 401
    detail = response.json()["detail"]
    assert "This is an API key" in detail and "session token" in detail
    assert "Invalid or expired session token" not in detail
    context.close()


def test_a_websocket_closed_for_a_bad_frame_gives_the_reason(browser, server):
    ready = pages.Ready()
    context, page = ui.new_page(browser, server)
    pages.log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/messages/")
    closed = page.evaluate(
        """ws => new Promise((resolve) => {
        const socket = new WebSocket(`ws://${location.host}/ws/workspaces/${ws}/`);
        socket.onopen = () => socket.send('{"type": "subscribe"}');
        socket.onclose = (event) => resolve({code: event.code, reason: event.reason});
    })""",
        ready.ws,
    )
    assert closed == {"code": 4400, "reason": "Unknown frame type; expected ping or catch_up."}
    context.close()


def test_a_message_from_the_inbox_says_who_queued_it_and_the_favicon_is_there(browser, server):
    ready = pages.Ready()
    context, page = ui.new_page(browser, server)
    pages.log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/inbox/")
    page.get_by_label("To", exact=True).fill("+14155550123")
    page.get_by_label("Message", exact=True).fill("Hello from the inbox")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"/inbox/conv_\w+/$"))
    message = Message.objects.get(body="Hello from the inbox")
    page.goto(f"/w/{ready.ws}/messages/{message.pk}/")
    queued = page.locator(".timeline li", has_text="Queued").first.inner_text()
    assert "from the inbox by Nia Newcomer" in queued and "by api" not in queued
    favicon = page.request.get(f"{server.url}/favicon.ico")
    assert favicon.ok and favicon.headers["content-type"].startswith("image/svg")
    context.close()


def test_the_admin_lists_messages_newest_first_and_retries_from_the_change_page(browser, server):
    ready = pages.Ready()
    root = User.objects.create_superuser(email="root@example.com", name="Root")
    root.password = PBKDF2PasswordHasher().encode(ui.PASSWORD, "browser-tests")
    root.save(update_fields=["password"])
    now = timezone.now()
    made = {}
    for minutes, status in ((30, Status.DELIVERED), (10, Status.FAILED), (20, Status.SENT)):
        message = Message.objects.create(
            workspace=ready.workspace,
            direction=Direction.OUTBOUND,
            status=status,
            to_number="+14155550111",
            body=f"{status} message",
            error_code="30008" if status == Status.FAILED else None,
        )
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(minutes=minutes))
        made[status] = message
    context, page = ui.new_page(browser, server)
    page.goto("/admin/login/")
    page.locator("#id_username").fill("root@example.com")
    page.locator("#id_password").fill(ui.PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/")
    ui.expect_text(page, "Webhook deliveries")
    assert "deliverys" not in page.content().lower()

    page.goto("/admin/messaging/message/")
    rows = page.locator("#result_list tbody tr")
    assert [rows.nth(i).locator("td.field-status").inner_text() for i in range(3)] == [
        "Failed",
        "Sent",
        "Delivered",
    ]
    rows.first.locator("th a").click()
    page.get_by_role("button", name="Retry this message").click()
    ui.expect_text(page, "1 message(s) queued again.")
    assert Message.objects.get(pk=made[Status.FAILED].pk).status != Status.FAILED
    page.goto(f"/admin/messaging/message/{made[Status.DELIVERED].pk}/change/")
    assert page.get_by_role("button", name="Retry this message").count() == 0
    context.close()


def test_the_menu_button_shows_on_narrow_screens_only(browser, server):
    ready = pages.Ready()
    context, page = ui.new_page(browser, server)
    pages.log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/inbox/")
    assert page.get_by_role("button", name="Menu").is_hidden()
    assert page.get_by_role("navigation", name="Workspace").is_visible()
    page.set_viewport_size({"width": 375, "height": 740})
    assert page.get_by_role("button", name="Menu").is_visible()
    context.close()
