"""The web UI in a real browser: Playwright driving Debian's headless Chromium against a daphne
server started here. Skipped locally without /usr/bin/chromium; under CI a missing browser fails."""

import importlib.util
import os
import re
from pathlib import Path

import pytest

from conftest import require_service
from messaging_platform.testing.fake_twilio import FakeTwilio
from messaging_platform.testing.live_server import LiveServer
from messaging_platform.testing.processes import BASE_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# `UI_SCREENSHOTS=1 pytest messaging/tests/test_browser_ui.py` refreshes the README's screenshots.
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
PASSWORD = "a-long-passphrase-1"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    require_service("Chromium (/usr/bin/chromium)", Path(CHROMIUM).exists())
    require_service("Playwright", importlib.util.find_spec("playwright") is not None)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls that the tests and
    # their database fixtures make here are plain synchronous ones all the same.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def fake_carrier():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def server(browser, transactional_db, fake_carrier):
    live = LiveServer(
        env={"SIMULATOR_DELAY_SECONDS": "2", "TWILIO_API_BASE_URL": fake_carrier.base_url}
    ).start()
    yield live
    live.stop()


def new_page(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 820})
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def sign_up(page, email: str, name: str = "Nia Newcomer") -> None:
    page.goto("/signup/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r"/$"))


def create_workspace(page, name: str) -> str:
    page.get_by_label("Workspace name").fill(name)
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(re.compile(r"/w/ws_\w+/settings/carrier/$"))
    return re.search(r"/w/(ws_\w+)/", page.url)[1]


def expect_text(page, text: str) -> None:
    page.get_by_text(text).first.wait_for()


def shot(page, name: str) -> None:
    if not os.environ.get("UI_SCREENSHOTS"):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_a_newcomer_goes_from_sign_up_to_a_delivered_message_seen_live(browser, server):
    context, page = new_page(browser, server)
    sign_up(page, "nia@example.com")
    expect_text(page, "Create your first workspace")
    ws = create_workspace(page, "Acme Support")

    # The carrier: the simulator needs no account.
    page.get_by_role("radio", name=re.compile("Simulator")).check()
    page.get_by_role("button", name="Save carrier").click()
    page.wait_for_url(f"**/w/{ws}/numbers/")

    # A number: the simulator's numbers are offered, one click each.
    add_button = page.get_by_role("button", name=re.compile(r"^Add \+1"))
    our_number = add_button.first.get_attribute("aria-label").removeprefix("Add ")
    add_button.first.click()
    expect_text(page, f"{our_number} added. It is your default sender.")
    page.get_by_label(f"Friendly name of {our_number}").fill("Support line")
    page.get_by_role("button", name="Save").first.click()
    expect_text(page, f"{our_number} renamed.")
    shot(page, "numbers")

    # An API key, shown once, with a copy button.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Key name").fill("Production server")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("New API key").input_value()
    assert key.startswith("mp_live_")
    page.get_by_role("button", name="Copy").click()
    expect_text(page, "Copied")
    shot(page, "settings-api-keys")
    page.goto(f"/w/{ws}/settings/api-keys/")
    assert key not in page.content()  # never shown again
    assert page.locator("tbody tr").count() == 1

    # The composer counts segments and encoding as you type.
    page.get_by_role("link", name="Inbox").click()
    expect_text(page, "Get started")
    page.get_by_label("To", exact=True).fill("+1 415 555 0123")
    body = page.get_by_label("Message", exact=True)
    body.fill("Hello from the browser")
    counter = page.locator("[data-segment-output]")
    assert counter.inner_text() == "22 characters · 1 segment · GSM-7"
    body.fill("é" * 161)
    assert counter.inner_text() == "161 characters · 2 segments · GSM-7"
    body.fill("Your order shipped 📦")
    assert counter.inner_text().endswith("1 segment · UCS-2")
    body.fill("Hello from the browser")
    page.get_by_role("button", name="Send").click()

    # The thread: the message starts queued or sent, then turns delivered without a reload.
    page.wait_for_url(re.compile(rf"/w/{ws}/inbox/conv_\w+/$"))
    page.evaluate("window.__notReloaded = true")
    status = page.locator(".bubble.outbound [data-status]").last
    assert status.get_attribute("data-status") in ("queued", "sending", "sent")
    page.wait_for_selector(".bubble.outbound [data-status='delivered']")
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("#live-announcer").inner_text().endswith("Delivered")

    # A simulated reply lands in the same thread.
    page.get_by_label("Simulate a reply").fill("Thanks, got it!")
    page.get_by_role("button", name="Simulate reply").click()
    page.locator(".bubble.inbound", has_text="Thanks, got it!").wait_for()
    shot(page, "inbox")

    # The messages log, filtered, and a message's events.
    page.get_by_role("link", name="Messages").click()
    assert page.locator("[data-message-row]").count() == 2
    page.get_by_label("Direction").select_option("outbound")
    page.get_by_role("button", name="Filter").click()
    assert page.locator("[data-message-row]").count() == 1
    assert page.get_by_label("Direction").input_value() == "outbound"  # the form stays filled
    page.goto(f"/w/{ws}/messages/")
    shot(page, "messages-log")
    page.locator("[data-message-row] a").last.click()
    for word in ("Queued", "Sent", "Delivered"):
        page.locator(".timeline strong", has_text=word).wait_for()
    context.close()


def test_another_user_cannot_reach_the_first_workspace(browser, server):
    owner, page = new_page(browser, server)
    sign_up(page, "owner@example.com", name="Olivia Owner")
    ws = create_workspace(page, "Acme")
    owner.close()

    other, page = new_page(browser, server)
    sign_up(page, "oscar@example.com", name="Oscar Outsider")
    for path in (
        "",
        "inbox/",
        "messages/",
        "numbers/",
        "settings/",
        "settings/carrier/",
        "settings/api-keys/",
        "settings/members/",
        "settings/opt-outs/",
    ):
        response = page.goto(f"/w/{ws}/{path}")
        assert response.status == 404, path
        expect_text(page, "Page not found")
        assert "Acme" not in page.content()
    # A forged form post, with Oscar's own valid CSRF token, changes nothing either.
    page.goto("/")
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    response = page.request.post(
        f"{server.url}/w/{ws}/settings/api-keys/",
        form={"csrfmiddlewaretoken": token, "name": "stolen"},
        headers={"Referer": f"{server.url}/"},
    )
    assert response.status == 404
    other.close()


def test_bad_input_is_shown_inline_and_saves_nothing(browser, server, fake_carrier):
    context, page = new_page(browser, server)
    page.goto("/signup/")
    page.get_by_label("Name", exact=True).fill("Pat")
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect_text(page, "This password is too short")
    sign_up(page, "pat@example.com")

    page.goto("/workspaces/new/")
    page.get_by_role("button", name="Create workspace").click()
    assert page.locator(".field .error").inner_text() == "This field is required."
    ws = create_workspace(page, "Pat's shop")

    # Twilio with credentials the carrier refuses: an inline error, the token not echoed back.
    account = fake_carrier.add_account()
    page.get_by_role("radio", name=re.compile("^Twilio")).check()
    page.get_by_label("Account SID").fill(account.sid)
    page.get_by_label("Auth Token").fill("not-the-right-token")
    page.get_by_role("button", name="Save carrier").click()
    page.locator(".alert").wait_for()
    assert "not-the-right-token" not in page.content()
    assert page.get_by_label("Auth Token").input_value() == ""
    expect_text(page, "Not set up")

    page.get_by_role("radio", name=re.compile("Simulator")).check()
    page.get_by_role("button", name="Save carrier").click()
    page.wait_for_url(f"**/w/{ws}/numbers/")
    page.get_by_role("button", name=re.compile(r"^Add \+1")).first.click()
    added = page.locator("td.mono").first.inner_text().split("\n")[0]

    # Malformed and duplicate numbers.
    page.get_by_label("Phone number").fill("555-abc")
    page.get_by_role("button", name="Add number").click()
    expect_text(page, "is not a phone number")
    page.get_by_label("Phone number").fill(added)
    page.get_by_role("button", name="Add number").click()
    expect_text(page, f"{added} is already in this workspace.")
    assert page.locator("td.mono").count() == 1

    # The composer: a malformed recipient, an empty message.
    page.get_by_role("link", name="Inbox").click()
    page.get_by_label("To", exact=True).fill("+1 555")
    page.get_by_label("Message", exact=True).fill("Hi")
    page.get_by_role("button", name="Send").click()
    expect_text(page, "is not a valid phone number")
    assert page.get_by_label("Message", exact=True).input_value() == "Hi"  # what you typed is kept
    page.get_by_label("To", exact=True).fill("+14155550123")
    page.get_by_label("Message", exact=True).fill("")
    page.get_by_role("button", name="Send").click()
    expect_text(page, "This field is required.")

    # A stale CSRF token: a page that explains, and nothing saved.
    page.goto(f"/w/{ws}/settings/api-keys/")
    page.get_by_label("Key name").fill("Stale")
    page.evaluate("document.querySelector('form.row-form [name=csrfmiddlewaretoken]').value = 'x'.repeat(64)")
    page.get_by_role("button", name="Create key").click()
    expect_text(page, "Your form expired")
    page.goto(f"/w/{ws}/settings/api-keys/")
    expect_text(page, "No keys yet.")
    page.goto(f"/w/{ws}/messages/")
    expect_text(page, "No messages yet.")
    context.close()
