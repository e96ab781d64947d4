"""The carrier-account and route pages in a real browser (Debian's Chromium, a daphne server):
an SMPP account added against the fake SMSC, its connection tested live (a bind and an unbind)
passing and then failing in words, its password never shown; a route added, reordered, removed."""

import re

import pytest

from messaging.tests import test_browser_ui as ui
from messaging.tests.test_browser_pages import Ready, log_in
from messaging_platform.testing.fake_smsc import FakeSmsc
from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SYSTEM_ID
from messaging_platform.testing.live_server import LiveServer
from numbers.models import CarrierRoute, ProviderAccount
from workspaces.audit.models import AuditRecord

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

browser, new_page = ui.browser, ui.new_page


@pytest.fixture
def smsc():
    with FakeSmsc() as fake:
        fake.add_account(SMPP_SYSTEM_ID, SMPP_PASSWORD)
        yield fake


@pytest.fixture
def server(browser, transactional_db):
    # No binds in the server: the SMSC then sees only what the page's buttons do.
    live = LiveServer(env={"SIMULATOR_DELAY_SECONDS": "1", "SMPP_BINDS_IN_PROCESS": "false"}).start()
    yield live
    live.stop()


def flash(page) -> str:
    return page.locator(".flash").first.inner_text()


def test_an_smpp_account_is_added_and_its_connection_tested_against_the_smsc(browser, server, smsc):
    ready = Ready()
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/settings/carrier/")
    page.get_by_role("link", name="SMPP").click()
    page.wait_for_url(f"**/w/{ready.ws}/settings/carrier/new/smpp/")

    # A wrong password: the SMSC refuses the bind, shown inline; nothing saved, nothing echoed.
    page.get_by_label("Name (optional)").fill("Operator SMSC")
    page.get_by_label("SMSC host").fill("127.0.0.1")
    page.get_by_label("Port").fill(str(smsc.port))
    page.get_by_label("system_id", exact=True).fill(SMPP_SYSTEM_ID)
    page.get_by_label("Password").fill("nope1234")
    page.get_by_label("system_type (optional)").fill("SMS")
    page.get_by_label("Throughput (submit_sm per second, optional)").fill("50")
    page.get_by_role("button", name="Add account").click()
    page.locator(".error, .alert").first.wait_for()
    assert "ESME_RINVPASWD" in page.locator("main").inner_text()
    assert "nope1234" not in page.content()
    assert page.get_by_label("Password").input_value() == ""
    assert not ProviderAccount.objects.filter(provider="smpp").exists()

    # The right one: bound, unbound, saved; the password shows only as "set".
    page.get_by_label("Password").fill(SMPP_PASSWORD)
    page.get_by_label("Connect over TLS").uncheck()
    page.get_by_role("button", name="Add account").click()
    page.wait_for_url(f"**/w/{ready.ws}/settings/carrier/")
    assert "Operator SMSC was added" in flash(page)
    row = page.locator("tr", has_text="Operator SMSC")
    assert f"127.0.0.1:{smsc.port}" in row.inner_text() and "50/s" in row.inner_text()
    assert "set" in row.locator("td[data-label='Secret']").inner_text()
    assert SMPP_PASSWORD not in page.content()
    account = ProviderAccount.objects.get(provider="smpp")
    assert account.settings["system_type"] == "SMS" and account.settings["throughput"] == 50
    binds_before = len(smsc.binds)

    # Test connection: a bind and an unbind against the SMSC, the outcome in words.
    page.get_by_role("button", name="Test connection of Operator SMSC").click()
    page.locator(".flash-success").wait_for()
    assert flash(page) == (
        f"Operator SMSC: Connection works: bound to the SMSC (127.0.0.1:{smsc.port}) "
        f"as {SMPP_SYSTEM_ID}, then unbound."
    )
    assert len(smsc.binds) == binds_before + 1
    assert smsc.wait_for(lambda: smsc.unbinds >= 2)

    # The SMSC changes the password: the same button now says why the bind failed.
    smsc.add_account(SMPP_SYSTEM_ID, "changed1")
    page.get_by_role("button", name="Test connection of Operator SMSC").click()
    page.locator(".flash-error").wait_for()
    words = flash(page)
    assert words.startswith("Operator SMSC: the connection failed.")
    assert f"The SMSC at 127.0.0.1:{smsc.port} refused the bind: ESME_RINVPASWD" in words
    assert "changed1" not in page.content()

    # Edit: a new password and throughput; an empty password field would keep the stored one.
    page.get_by_role("link", name="Edit Operator SMSC").click()
    assert page.get_by_label("Password").input_value() == ""
    expect = page.get_by_text("Set (stored encrypted). Leave this empty to keep it.")
    expect.wait_for()
    page.get_by_label("Password").fill("changed1")
    page.get_by_label("Throughput (submit_sm per second, optional)").fill("")
    page.get_by_role("button", name="Save account").click()
    page.wait_for_url(f"**/w/{ready.ws}/settings/carrier/")
    assert "Operator SMSC was saved." in flash(page)
    account.refresh_from_db()
    assert account.auth_token == "changed1" and "throughput" not in account.settings
    page.get_by_role("button", name="Test connection of Operator SMSC").click()
    page.locator(".flash-success").wait_for()

    # Primary, then back; the audit log has every change, never the password.
    page.get_by_role("button", name=re.compile(r"^Make primary\W+Operator SMSC$")).click()
    page.locator(".flash-success", has_text="is now the primary account").wait_for()
    assert ProviderAccount.objects.get(provider="smpp").is_primary
    kinds = list(AuditRecord.objects.filter(workspace=ready.workspace).values_list("kind", flat=True))
    assert "carrier_account.added" in kinds and kinds.count("carrier_account.updated") >= 2
    assert all(
        "changed1" not in str(r.changes) and SMPP_PASSWORD not in str(r.changes)
        for r in AuditRecord.objects.all()
    )
    context.close()


def test_a_route_is_added_reordered_and_removed(browser, server, smsc):
    ready = Ready()
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/settings/carrier/new/smpp/")
    page.get_by_label("Name (optional)").fill("Europe")
    page.get_by_label("SMSC host").fill("127.0.0.1")
    page.get_by_label("Port").fill(str(smsc.port))
    page.get_by_label("system_id", exact=True).fill(SMPP_SYSTEM_ID)
    page.get_by_label("Password").fill(SMPP_PASSWORD)
    page.get_by_label("Senders (optional)").fill("ACME")
    page.get_by_role("button", name="Add account").click()
    page.wait_for_url(f"**/w/{ready.ws}/settings/carrier/")

    page.get_by_role("link", name=re.compile(r"^Routes")).first.click()
    page.wait_for_url(f"**/w/{ready.ws}/settings/routes/")
    # A malformed prefix: the API's rule, inline.
    page.get_by_label("Destinations starting with").fill("44")
    page.get_by_label("Send through").select_option(label="Europe (SMPP)")
    page.get_by_role("button", name="Add route").click()
    page.locator(".field.has-error .error").wait_for()
    assert page.locator(".field.has-error .error").inner_text() == "For example +44 or +1415."
    assert not CarrierRoute.objects.exists()

    page.get_by_label("Destinations starting with").fill("+44")
    page.get_by_label("Send through").select_option(label="Europe (SMPP)")
    page.get_by_label("If that account does not take it").select_option(label="Simulator (Simulator)")
    page.get_by_role("button", name="Add route").click()
    page.locator(".flash-success", has_text="Route added").wait_for()
    page.get_by_label("Destinations starting with").fill("+1")
    page.get_by_label("Send through").select_option(label="Simulator (Simulator)")
    page.get_by_role("button", name="Add route").click()
    page.locator(".flash-success", has_text="+1").wait_for()

    def order() -> list[str]:
        return page.locator("[data-routes] tbody tr").evaluate_all("rows => rows.map(r => r.dataset.prefix)")

    assert order() == ["+44", "+1"]
    row = page.locator("tr[data-prefix='+44']")
    assert "Europe" in row.inner_text()
    assert "Simulator" in row.locator("td[data-label='Fallback']").inner_text()
    page.get_by_role("button", name=re.compile(r"^Up\W+the route for \+1$")).click()
    page.locator(".flash-success", has_text="moved up").wait_for()
    assert order() == ["+1", "+44"]
    routes = list(CarrierRoute.objects.order_by("position").values_list("prefix", flat=True))
    assert routes == ["+1", "+44"]

    page.locator("tr[data-prefix='+1'] summary").click()  # opens the confirm
    page.locator("tr[data-prefix='+1'] button.danger").click()
    page.locator(".flash-success", has_text="removed").wait_for()
    assert order() == ["+44"]
    assert list(CarrierRoute.objects.values_list("prefix", flat=True)) == ["+44"]
    kinds = set(AuditRecord.objects.values_list("kind", flat=True))
    assert {"carrier_route.added", "carrier_route.updated", "carrier_route.removed"} <= kinds
    context.close()
