"""Take the screenshots of docs/ui.md and the README with Playwright and Debian's Chromium.

    .venv/bin/python docs/screenshots/take.py

It starts the platform (daphne, embedded shape) on a fresh SQLite database of its own, goes
through the first-run path as a newcomer would (sign up, workspace, the simulator, a number, a
key), makes a few messages through the API (one delivered with a reply, one failed, one
scheduled), a webhook endpoint with a failed and a redelivered test event and an opt-out, then
shoots each page at 1280×800 and the main ones at 375 px wide into docs/screenshots/.
"""

import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a-long-passphrase-1"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 375, "height": 740}


def setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_platform.settings")
    # The server gets its own SQLite file (LiveServer); this process only reads the settings.
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='shots-')}/unused.sqlite3"
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()


def api(base: str, key: str, path: str, payload: dict | None = None) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the local server's http URL
        f"{base}{path}",
        method="POST" if payload is not None else "GET",
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


def shoot(page, name: str, *, height: int | None = None) -> None:
    """`height`: a taller window for a long page (a full-page shot would misplace the sidebar)."""
    size = page.viewport_size
    if height:
        page.set_viewport_size({"width": size["width"], "height": height})
    page.wait_for_timeout(300)  # local times and live frames settle
    page.screenshot(path=str(OUT / f"{name}.png"))
    if height:
        page.set_viewport_size(size)
    print(f"docs/screenshots/{name}.png")


def main() -> None:
    setup_django()
    from playwright.sync_api import sync_playwright

    from messaging_platform.testing.live_server import LiveServer
    from messaging_platform.testing.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver(fail_first=1).__enter__()
    server = LiveServer(
        env={
            "SIMULATOR_DELAY_SECONDS": "1",
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "WEBHOOK_RETRY_BASE_SECONDS": "3600",
        }
    ).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(base_url=server.url, viewport=WIDE)
            context.set_default_timeout(15_000)
            page = context.new_page()
            take_all(page, server.url, receiver)
            browser.close()
    finally:
        server.stop()
        receiver.__exit__(None, None, None)


def take_all(page, base: str, receiver) -> None:
    # The first-run path, as the README tells it.
    page.goto("/signup/")
    shoot(page, "signup")
    page.get_by_label("Name", exact=True).fill("Nia Newcomer")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_label("Workspace name").fill("Acme Support")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(re.compile(r"/w/ws_\w+/settings/carrier/$"))
    ws = re.search(r"/w/(ws_\w+)/", page.url)[1]
    shoot(page, "settings-carrier")
    page.get_by_role("radio", name=re.compile("Simulator")).check()
    page.get_by_role("button", name="Save carrier").click()
    page.wait_for_url(f"**/w/{ws}/numbers/")
    page.get_by_role("button", name=re.compile(r"^Add \+1")).first.click()
    page.get_by_text("It is your default sender.").wait_for()
    shoot(page, "numbers")
    page.goto(f"/w/{ws}/settings/api-keys/")
    page.get_by_label("Key name").fill("Production server")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("New API key").input_value()
    shoot(page, "settings-api-keys")

    # Messages: delivered with a reply, failed, scheduled.
    first = api(base, key, "/api/messages", {"to": "+15005550005", "body": "Your order #1042 has shipped"})
    failed = api(
        base, key, "/api/messages", {"to": "+15005550003", "body": "Your verification code is 381 204"}
    )
    later = (datetime.now() + timedelta(days=1)).replace(hour=9, minute=30).astimezone()
    api(
        base,
        key,
        "/api/messages",
        {
            "to": "+14155550142",
            "scheduled_at": later.isoformat(),
            "body": "Reminder: your appointment is tomorrow at 10:00",
        },
    )
    time.sleep(4)  # the simulator delivers, fails and replies
    page.goto(f"/w/{ws}/inbox/{first['conversation_id']}/")
    page.get_by_label(re.compile("Simulate a reply")).fill("Great, thanks!")
    page.get_by_role("button", name="Simulate reply").click()
    page.locator(".bubble.inbound", has_text="Great, thanks!").wait_for()
    shoot(page, "inbox")
    page.goto(f"/w/{ws}/inbox/{failed['conversation_id']}/")
    page.locator(".bubble.failed").wait_for()
    shoot(page, "inbox-failed")
    page.goto(f"/w/{ws}/messages/{failed['id']}/")
    shoot(page, "message-failed")
    page.goto(f"/w/{ws}/messages/")
    shoot(page, "messages-log")

    # Opt-outs: one by hand; then the thread of an opted-out contact.
    page.goto(f"/w/{ws}/settings/opt-outs/")
    page.get_by_label("Phone number").fill("+15005550005")
    page.get_by_role("button", name="Add opt-out").click()
    shoot(page, "settings-opt-outs")
    page.goto(f"/w/{ws}/inbox/{first['conversation_id']}/")
    shoot(page, "inbox-opted-out")

    # Webhooks: an endpoint, a test event that failed once and was redelivered.
    page.goto(f"/w/{ws}/settings/webhooks/")
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Description").fill("Order system")
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_url(re.compile(r"/settings/webhooks/whk_\w+/$"))
    shoot(page, "settings-webhook-secret")
    page.get_by_role("button", name="Send a test event").click()
    page.locator("[data-delivery] summary").first.click()
    page.locator("[data-delivery]").first.get_by_role("button", name="Redeliver").click()
    page.get_by_text("is being delivered again").wait_for()
    page.locator("[data-delivery] summary").first.click()
    shoot(page, "settings-webhook", height=1240)
    page.goto(f"/w/{ws}/settings/webhooks/")
    shoot(page, "settings-webhooks")

    # The delivery dashboard, the carrier accounts and routes, and the inbox in dark mode.
    page.goto(f"/w/{ws}/dashboard/")
    page.locator("canvas").first.wait_for()
    shoot(page, "dashboard", height=1100)
    page.goto(f"/w/{ws}/settings/carrier/")
    shoot(page, "settings-carriers")
    page.goto(f"/w/{ws}/settings/routes/")
    shoot(page, "settings-routes")
    page.emulate_media(color_scheme="dark")
    page.goto(f"/w/{ws}/inbox/{first['conversation_id']}/")
    shoot(page, "inbox-dark")
    page.emulate_media(color_scheme="light")

    # Narrow screens.
    page.set_viewport_size(NARROW)
    page.goto(f"/w/{ws}/inbox/{failed['conversation_id']}/")
    shoot(page, "mobile-thread")
    page.goto(f"/w/{ws}/messages/")
    shoot(page, "mobile-messages-log")
    page.get_by_role("button", name="Menu").click()
    shoot(page, "mobile-menu")
    page.goto(f"/w/{ws}/settings/webhooks/")
    shoot(page, "mobile-webhooks")
    page.goto(f"/w/{ws}/dashboard/")
    page.locator("canvas").first.wait_for()
    shoot(page, "dashboard-375")


if __name__ == "__main__":
    main()
