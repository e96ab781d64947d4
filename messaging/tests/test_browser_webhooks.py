"""Settings › Webhooks in a real browser (issue 15.6): create an endpoint with its events and see
its secret once, send a test event, read each attempt in the delivery log, redeliver, rotate the
secret, disable and enable; members read the page and change nothing. Signatures are checked with
the independent `standardwebhooks` library."""

import re

import pytest
from standardwebhooks import Webhook

from accounts.models import User
from messaging.models import WebhookEndpoint
from messaging.tests import test_browser_pages as pages
from messaging.tests import test_browser_ui as ui
from messaging_platform.testing.live_server import LiveServer
from messaging_platform.testing.webhook_receiver import WebhookReceiver
from workspaces.models import Membership, Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

browser = ui.browser


@pytest.fixture
def receiver():
    # Every event's first attempt fails: the log shows a failed attempt, then the redelivery.
    with WebhookReceiver(fail_first=1) as hooks:
        yield hooks


@pytest.fixture
def hook_server(browser, transactional_db, receiver):
    """The daphne server allowed to post to loopback (the receiver); no automatic retry within
    the test, so every second attempt seen is a redelivery."""
    live = LiveServer(
        env={
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "WEBHOOK_RETRY_BASE_SECONDS": "3600",
        }
    ).start()
    yield live
    live.stop()


def verified(secret: str, received) -> dict:
    return Webhook(secret).verify(received.body, received.headers)


def test_an_admin_manages_a_webhook_endpoint_and_its_deliveries(browser, hook_server, receiver):
    server = hook_server
    ready = pages.Ready()
    context, page = ui.new_page(browser, server)
    pages.log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/settings/")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Webhooks").click()
    ui.expect_text(page, "No endpoints yet.")

    # Create: the URL, the events picked (two are ticked to start with).
    page.get_by_label("Endpoint URL").fill("not a url")
    page.get_by_role("button", name="Add endpoint").click()
    ui.expect_text(page, "Enter a valid URL.")
    assert not WebhookEndpoint.objects.exists()
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Description").fill("Order system")
    page.get_by_role("checkbox", name=re.compile("message.status_updated")).uncheck()
    page.get_by_role("checkbox", name=re.compile("message.created")).check()
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_url(re.compile(rf"/w/{ready.ws}/settings/webhooks/whk_\w+/$"))
    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["message.created", "message.received"]
    page.reload()
    assert secret not in page.content()  # shown once
    assert page.get_by_label("Signing secret").count() == 0

    # A test event: its first attempt fails (500), the log shows it.
    page.get_by_role("button", name="Send a test event").click()
    ui.expect_text(page, "A test event is on its way")
    delivery = page.locator("[data-delivery]").first
    assert "webhook.test" in delivery.inner_text()
    assert delivery.locator("[data-delivery-status]").inner_text() == "Pending"
    delivery.locator("summary").click()
    attempts = delivery.locator("[data-attempt]")
    assert attempts.count() == 1
    assert "500" in attempts.first.inner_text()
    assert verified(secret, receiver.received[-1])["type"] == "webhook.test"

    # Redeliver: a second attempt of the same event, which succeeds.
    delivery.get_by_role("button", name="Redeliver").click()
    ui.expect_text(page, "is being delivered again")
    delivery = page.locator("[data-delivery]").first
    assert delivery.locator("[data-delivery-status]").inner_text() == "Succeeded"
    delivery.locator("summary").click()
    attempts = delivery.locator("[data-attempt]")
    assert attempts.count() == 2
    assert "200" in attempts.nth(1).inner_text()
    first, second = receiver.received[-2:]
    assert first.webhook_id == second.webhook_id and second.status == 200

    # Rotate: a new secret, shown once, signs from now on.
    page.get_by_text("Rotate secret", exact=True).click()
    page.get_by_role("button", name="Replace the secret").click()
    ui.expect_text(page, "The secret was replaced")
    new_secret = page.get_by_label("Signing secret").input_value()
    assert new_secret.startswith("whsec_") and new_secret != secret
    page.get_by_role("button", name="Send a test event").click()
    ui.expect_text(page, "A test event is on its way")
    assert verified(new_secret, receiver.received[-1])["type"] == "webhook.test"
    with pytest.raises(Exception):  # noqa: B017, PT011 - the library's own verification error
        verified(secret, receiver.received[-1])

    # Disable, then enable.
    page.get_by_role("button", name="Disable").click()
    ui.expect_text(page, "no events are sent to it")
    assert page.locator("[data-endpoint-state]").inner_text() == "Disabled"
    assert page.get_by_role("button", name="Send a test event").is_disabled()
    page.get_by_role("button", name="Enable").click()
    assert page.locator("[data-endpoint-state]").inner_text() == "Active"

    # The list names the endpoint and its state.
    page.get_by_role("link", name="Webhooks", exact=True).first.click()
    row = page.locator(f"[data-endpoint='{endpoint.pk}']")
    assert receiver.url in row.inner_text() and "Order system" in row.inner_text()
    context.close()

    # A member reads the page, sees no secret and no buttons, and cannot post.
    member = User.objects.create_user(email="mo@example.com", name="Mo Member")
    member.password = ready.user.password
    member.save(update_fields=["password"])
    Membership.objects.create(workspace=ready.workspace, user=member, role=Role.MEMBER)
    context, page = ui.new_page(browser, server)
    pages.log_in(page, "mo@example.com")
    page.goto(f"/w/{ready.ws}/settings/webhooks/{endpoint.pk}/")
    assert receiver.url in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Send a test event").count() == 0
    assert page.get_by_role("button", name="Redeliver").count() == 0
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    response = page.request.post(
        f"{server.url}/w/{ready.ws}/settings/webhooks/{endpoint.pk}/disable",
        form={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{server.url}/"},
    )
    assert response.status == 403
    endpoint.refresh_from_db()
    assert endpoint.is_active
    context.close()
