"""Campaigns in a real browser: import contacts, write a template, send a broadcast and watch its
counts turn completed live (Debian's Chromium, a daphne server in the embedded shape)."""

import re

import pytest

from messaging.tests.test_browser_ui import (  # noqa: F401 - fixtures
    browser,
    create_workspace,
    expect_text,
    fake_carrier,
    new_page,
    server,
    shot,
    sign_up,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_member_imports_contacts_writes_a_template_and_watches_a_broadcast_complete(
    browser,  # noqa: F811 - the fixtures imported above
    server,  # noqa: F811
    tmp_path,
):
    context, page = new_page(browser, server)
    sign_up(page, "cam@example.com", name="Cam Paign")
    ws = create_workspace(page, "Acme Campaigns")
    page.get_by_role("radio", name=re.compile("Simulator")).check()
    page.get_by_role("button", name="Save carrier").click()
    page.wait_for_url(f"**/w/{ws}/numbers/")
    page.get_by_role("button", name=re.compile(r"^Add \+1")).first.click()
    expect_text(page, "It is your default sender.")

    # Import: two good rows and a bad one, with the bad row explained.
    csv = tmp_path / "people.csv"
    csv.write_text(
        "phone_number,name,city\n+14155550101,Ana,Paris\nnot-a-number,Nobody,Rome\n+14155550102,Ben,Lyon\n"
    )
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Contacts").click()
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(rf"/w/{ws}/contacts/import/imp_\w+/$"))
    page.locator("[data-import-status]", has_text="Completed").wait_for()
    expect_text(page, "2 added")
    expect_text(page, "'not-a-number' is not a phone number")

    # A template, previewed as it is typed.
    page.get_by_role("link", name="Back to contacts").click()
    page.get_by_role("link", name="Templates").click()
    page.get_by_label("Name").fill("Launch")
    page.get_by_label("Body").fill("Hi {{name}}, see you in {{city|town}}")
    page.locator("[data-preview-text]", has_text="Hi Ana, see you in Paris").wait_for()
    page.get_by_role("button", name="Save template").click()
    expect_text(page, "Saved the template Launch.")

    # The broadcast: composed, previewed with its totals, sent, and followed live to completed.
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Broadcasts").click()
    page.get_by_role("link", name="New broadcast").click()
    page.get_by_label("Name").fill("Spring launch")
    page.get_by_label("Template").select_option(label="Launch")
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(rf"/w/{ws}/broadcasts/bc_\w+/$"))
    expect_text(page, "Hi Ana, see you in Paris")
    assert "2 messages" in page.locator("main").inner_text().replace("\n", " ")
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("button", name="Send now").click()
    page.wait_for_url(re.compile(rf"/w/{ws}/broadcasts/bc_\w+/$"))
    page.evaluate("window.__notReloaded = true")
    page.locator("[data-broadcast-status]", has_text="Completed").wait_for(timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True  # the counts came live, not by a reload
    assert page.locator("[data-count='delivered']").inner_text() == "2"
    shot(page, "broadcast")
    context.close()
