"""The web UI's pages in a real browser (issue-driven checks): live updates everywhere, narrow
screens, invitations, the composer after an error, failures and opt-outs, and more. Same browser
and server fixtures as test_browser_ui.py."""

import json
import re
import urllib.request

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.models import User
from messaging.tests import test_browser_ui as ui
from messaging_platform.testing.live_server import LiveServer
from messaging_platform.testing.media_server import MediaServer
from numbers.services import numbers_import, provider_account_set
from workspaces.models import Membership
from workspaces.services import api_key_create, workspace_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The browser, the fake carrier and the daphne server of test_browser_ui.py.
browser, fake_carrier, server = ui.browser, ui.fake_carrier, ui.server
PASSWORD, new_page = ui.PASSWORD, ui.new_page


class Ready:
    """A user with a simulator workspace, its numbers and an API key, made through the services."""

    def __init__(self, email: str = "nia@example.com", name: str = "Acme"):
        self.user = User.objects.create_user(email=email, name="Nia Newcomer")
        # The server checks passwords with the production hasher, not the tests' fast one.
        self.user.password = PBKDF2PasswordHasher().encode(PASSWORD, "browser-tests")
        self.user.save(update_fields=["password"])
        self.workspace = workspace_create(user=self.user, name=name)
        self.ws = self.workspace.pk
        provider_account_set(workspace=self.workspace, provider="simulator")
        numbers_import(workspace=self.workspace)
        self.membership = Membership.objects.get(workspace=self.workspace, user=self.user)
        self.key = api_key_create(actor=self.membership, name="integration").key


def log_in(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def api(server, key: str, path: str, payload: dict | None = None, method: str | None = None) -> dict:
    request = urllib.request.Request(
        f"{server.url}{path}",
        method=method or ("POST" if payload is not None else "GET"),
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else {}


# 15.1: everything a page lists updates live ------------------------------------------------------


def test_inbox_and_log_add_new_conversations_rows_and_unread_badges_live(browser, server):
    ready = Ready()
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/inbox/")
    page.evaluate("window.__notReloaded = true")
    sent = api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "Hello live"})
    conv = page.locator(f".conv[data-conversation-id='{sent['conversation_id']}']")
    conv.wait_for()
    assert "Hello live" in conv.inner_text()
    assert conv.get_attribute("href").endswith(f"/inbox/{sent['conversation_id']}/")

    page.goto(f"/w/{ready.ws}/messages/")
    count = page.locator("[data-log-count]")
    assert count.inner_text().startswith("1 message")
    page.evaluate("window.__notReloaded = true")
    second = api(server, ready.key, "/api/messages", {"to": "+14155550122", "body": "Second one"})
    page.locator(f"[data-message-row='{second['id']}']").wait_for()
    assert count.inner_text().startswith("2 messages")
    assert page.locator("[data-message-row]").first.get_attribute("data-message-row") == second["id"]
    assert page.evaluate("window.__notReloaded") is True

    # Unread badges: an inbound message to a conversation not open shows its badge at once.
    page.goto(f"/w/{ready.ws}/inbox/{second['conversation_id']}/")
    page.evaluate("window.__notReloaded = true")
    # Another tab makes the contact of the first conversation write in.
    other = context.new_page()
    other.goto(f"/w/{ready.ws}/inbox/{sent['conversation_id']}/")
    other.get_by_label(re.compile("Simulate a reply")).fill("Are you there?")
    other.get_by_role("button", name="Simulate reply").click()
    other.locator(".bubble.inbound", has_text="Are you there?").wait_for()
    badge = page.locator(f".conv[data-conversation-id='{sent['conversation_id']}'] [data-unread]")
    badge.wait_for(state="visible")
    assert badge.inner_text() == "1"
    assert page.evaluate("window.__notReloaded") is True
    context.close()


# 15.3: MMS images render, from our own origin -----------------------------------------------------


@pytest.fixture
def media_files():
    with MediaServer() as files:
        yield files


@pytest.fixture
def open_server(browser, transactional_db, media_files):
    """The daphne server allowed to fetch from loopback (where the test's media files are)."""
    live = LiveServer(
        env={
            "SIMULATOR_DELAY_SECONDS": "1",
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        }
    ).start()
    yield live
    live.stop()


def test_mms_images_are_shown_from_our_own_store(browser, open_server, media_files):
    server = open_server
    ready = Ready()
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    sent = api(
        server,
        ready.key,
        "/api/messages",
        {"to": "+14155550111", "body": "A picture", "media_urls": [f"{media_files.url}/ok.png"]},
    )
    page.goto(f"/w/{ready.ws}/inbox/{sent['conversation_id']}/")
    image = page.locator(f"[data-message-id='{sent['id']}'] img")
    page.wait_for_function("img => img.complete && img.naturalWidth === 8", arg=image.element_handle())
    src = image.get_attribute("src")
    assert src == f"/w/{ready.ws}/messages/{sent['id']}/media/0"
    # The page's policy still allows images from our own origin only.
    response = page.request.get(f"{server.url}/w/{ready.ws}/inbox/")
    assert "img-src 'self' data:" in response.headers["content-security-policy"]
    # A message that arrives while the page is open shows its image too.
    second = api(
        server,
        ready.key,
        "/api/messages",
        {"to": "+14155550111", "body": "", "media_urls": [f"{media_files.url}/moved"]},
    )
    image = page.locator(f"[data-message-id='{second['id']}'] img")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 8", arg=image.element_handle())
    context.close()


# 15.4 and 15.2: narrow screens, and confirm popovers that are not clipped --------------------------

WORKSPACE_PAGES = (
    "inbox/",
    "messages/",
    "numbers/",
    "settings/",
    "settings/carrier/",
    "settings/api-keys/",
    "settings/members/",
    "settings/opt-outs/",
    "settings/webhooks/",
)


def overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_no_page_overflows_sideways_at_375_px_and_the_navigation_collapses(browser, server):
    ready = Ready()
    sent = api(
        server, ready.key, "/api/messages", {"to": "+14155550111", "body": "A fairly long message " * 8}
    )
    context = browser.new_context(base_url=server.url, viewport={"width": 375, "height": 740})
    context.set_default_timeout(ui.TIMEOUT_MS)
    page = context.new_page()
    for path in ("/login/", "/signup/", "/password-reset/"):
        page.goto(path)
        assert overflow(page) == 0, path
    log_in(page, "nia@example.com")
    for path in (
        "/",
        "/workspaces/new/",
        *(f"/w/{ready.ws}/{p}" for p in WORKSPACE_PAGES),
        f"/w/{ready.ws}/inbox/{sent['conversation_id']}/",
        f"/w/{ready.ws}/messages/{sent['id']}/",
    ):
        page.goto(path)
        assert overflow(page) == 0, path
    # The messages log is a list of cards: the message and its status are visible.
    page.goto(f"/w/{ready.ws}/messages/")
    row = page.locator(f"[data-message-row='{sent['id']}']")
    assert row.locator(".body-cell").is_visible()
    assert row.locator("[data-status]").is_visible()
    box = row.locator("[data-status]").bounding_box()
    assert box["x"] + box["width"] <= 375
    # The navigation is behind a menu button.
    nav = page.get_by_role("navigation", name="Workspace")
    assert not nav.is_visible()
    page.get_by_role("button", name="Menu").click()
    nav.get_by_role("link", name="Numbers").click()
    page.wait_for_url(f"**/w/{ready.ws}/numbers/")
    context.close()


def test_confirm_popovers_show_their_confirm_button(browser, server):
    ready = Ready()
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/settings/api-keys/")
    page.get_by_text("Revoke", exact=True).last.click()
    confirm = page.get_by_role("button", name="Revoke integration")
    confirm.wait_for()
    # Not clipped: the button's middle is the button, not whatever clips it.
    assert page.evaluate(
        """button => { const r = button.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return hit === button || button.contains(hit); }""",
        confirm.element_handle(),
    )
    confirm.click()
    ui.expect_text(page, "The key was revoked")
    page.goto(f"/w/{ready.ws}/numbers/")
    page.get_by_text("Remove", exact=True).last.click()
    confirm = page.get_by_role("button", name=re.compile(r"^Remove \+"))
    confirm.scroll_into_view_if_needed()
    assert page.evaluate(
        """button => { const r = button.getBoundingClientRect();
        const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
        return hit === button || button.contains(hit); }""",
        confirm.element_handle(),
    )
    context.close()


# 15.5: invitations keep newcomers ------------------------------------------------------------------


def test_an_invitation_names_who_invites_and_survives_sign_up(browser, server):
    ready = Ready()
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/settings/members/")
    page.get_by_label("Email").fill("newcomer@example.com")
    page.get_by_role("button", name="Send invitation").click()
    # The server prints email (the console backend): it says so, and gives the link to copy.
    ui.expect_text(page, "This installation does not send email")
    assert not page.get_by_text("Invitation sent").count()
    link = page.get_by_label("Invitation link for newcomer@example.com").input_value()
    assert link.startswith(f"{server.url}/invitations/accept?token=mp_inv_")
    context.close()

    context, page = new_page(browser, server)
    page.goto(link)
    ui.expect_text(page, "invited newcomer@example.com to join Acme as member")
    assert "Nia Newcomer" in page.locator("main").inner_text()
    page.get_by_role("link", name="Create an account to join").click()
    assert page.get_by_label("Email").input_value() == "newcomer@example.com"
    page.get_by_label("Name", exact=True).fill("Nora New")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/invitations/accept?token=*")
    page.get_by_role("button", name="Join Acme").click()
    page.wait_for_url(f"**/w/{ready.ws}/inbox/")
    ui.expect_text(page, "You joined Acme.")
    context.close()


def test_emailed_links_start_with_the_public_base_url_whatever_host_the_page_used(browser, server):
    Ready()
    # The page is reached as localhost; the installation's public address is 127.0.0.1.
    context = browser.new_context(base_url=server.url.replace("127.0.0.1", "localhost"))
    context.set_default_timeout(ui.TIMEOUT_MS)
    page = context.new_page()
    page.goto("/password-reset/")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_role("button", name="Send reset link").click()
    page.wait_for_url("**/password-reset/sent/")
    links = re.findall(r"(https?://\S+/password-reset/\S+/\S+/)", server.log())
    assert links and all(link.startswith(f"{server.url}/") for link in links), links
    context.close()


# 15.8: after a send error -----------------------------------------------------------------------


def test_a_send_error_stays_on_the_thread_and_a_refresh_sends_nothing(browser, server):
    ready = Ready()
    sent = api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "First"})
    context, page = new_page(browser, server)
    page.set_viewport_size({"width": 1280, "height": 640})
    log_in(page, "nia@example.com")
    thread_url = f"{server.url}/w/{ready.ws}/inbox/{sent['conversation_id']}/"
    page.goto(thread_url)
    page.get_by_text("Attach an image (MMS)").click()
    page.get_by_label(re.compile("Image URL")).fill("not a url at all")
    page.get_by_label("Message", exact=True).fill("Second")
    page.get_by_role("button", name="Send").click()
    ui.expect_text(page, "Enter a valid URL")
    assert page.url == thread_url
    assert page.get_by_label("Message", exact=True).input_value() == "Second"
    assert page.get_by_role("button", name="Send").is_visible()
    assert page.evaluate("""() => { const r = [...document.querySelectorAll('button')]
        .find(b => b.textContent.trim() === 'Send').getBoundingClientRect();
        return r.bottom <= innerHeight && r.top >= 0; }""")
    page.reload()
    page.goto(f"/w/{ready.ws}/messages/")
    assert page.locator("[data-message-row]").count() == 1  # nothing was sent again
    # An old tab or bookmark of the send URL opens the inbox, not a blank 405.
    response = page.goto(f"/w/{ready.ws}/inbox/send")
    assert response.status == 200 and page.url.endswith(f"/w/{ready.ws}/inbox/")
    # Pasting more than a message holds says so.
    page.goto(thread_url)
    body = page.get_by_label("Message", exact=True)
    body.focus()
    page.evaluate("""() => { const data = new DataTransfer(); data.setData('text/plain', 'y'.repeat(2000));
        document.activeElement.dispatchEvent(new ClipboardEvent('paste',
            {clipboardData: data, bubbles: true, cancelable: true})); }""")
    ui.expect_text(page, "cut to 1,600 characters")
    context.close()


# 15.7: the thread's "Log" link shows the whole conversation ---------------------------------------


def test_the_threads_log_link_lists_both_halves_of_the_conversation(browser, server):
    ready = Ready()
    sent = api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "Hello there"})
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/inbox/{sent['conversation_id']}/")
    page.get_by_label(re.compile("Simulate a reply")).fill("Hi back")
    page.get_by_role("button", name="Simulate reply").click()
    page.locator(".bubble.inbound", has_text="Hi back").wait_for()
    api(server, ready.key, "/api/messages", {"to": "+14155550199", "body": "Someone else"})
    page.get_by_role("link", name="Log of this conversation").click()
    page.wait_for_url(re.compile(r"/messages/\?conversation="))
    rows = page.locator("[data-message-row]")
    assert rows.count() == 2
    assert {rows.nth(i).locator("td").nth(1).inner_text() for i in range(2)} == {"Inbound", "Outbound"}
    context.close()
