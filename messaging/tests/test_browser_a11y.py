"""Accessibility, dark mode and the inbox's keyboard shortcuts in a real browser (Debian's
Chromium, a daphne server). axe-core comes from its npm package, pinned in
messaging/tests/a11y/package-lock.json and installed by .ci/run (`npm ci --prefix
messaging/tests/a11y`); it is read from disk and run inside each page, never fetched from a CDN."""

import json
import re

import pytest

from conftest import require_service
from messaging.tests import test_browser_ui as ui
from messaging.tests.test_browser_pages import Ready, api, log_in
from messaging_platform.testing.processes import BASE_DIR
from numbers.models import ProviderAccount
from numbers.services import carrier_route_set

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

browser, fake_carrier, server, new_page = ui.browser, ui.fake_carrier, ui.server, ui.new_page

AXE_PACKAGE = BASE_DIR / "messaging" / "tests" / "a11y" / "node_modules" / "axe-core"
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def axe_source() -> str:
    script = AXE_PACKAGE / "axe.min.js"
    require_service("axe-core (npm ci --prefix messaging/tests/a11y)", script.exists())
    pinned = json.loads((BASE_DIR / "messaging" / "tests" / "a11y" / "package.json").read_text())
    installed = json.loads((AXE_PACKAGE / "package.json").read_text())["version"]
    assert installed == pinned["dependencies"]["axe-core"]  # the exact version, not a range
    return script.read_text()


def axe_violations(page, axe_source: str) -> list[dict]:
    """axe-core's WCAG 2 A/AA violations on the page that are serious or critical."""
    # Evaluated through the DevTools protocol, so the page's script-src 'self' still applies to
    # everything else.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    results = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
    }""")
    return [v for v in results if v["impact"] in BLOCKING]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"{v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in violations
    )


def main_pages(server, ready: Ready) -> list[str]:
    sent = api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "Hello"})
    account = ProviderAccount.objects.get(workspace=ready.workspace)
    for position, prefix in enumerate(("+44", "+1")):  # the routes page with its buttons
        carrier_route_set(
            workspace=ready.workspace,
            prefix=prefix,
            position=position,
            account_id=account.uid,
            fields_given=frozenset({"prefix", "account_id"}),
        )
    ws = f"/w/{ready.ws}"
    return [
        f"{ws}/inbox/",
        f"{ws}/inbox/{sent['conversation_id']}/",
        f"{ws}/messages/",
        f"{ws}/numbers/",
        f"{ws}/settings/carrier/",
        f"{ws}/settings/routes/",
        f"{ws}/settings/carrier/new/smpp/",
        f"{ws}/settings/",
        f"{ws}/settings/api-keys/",
        f"{ws}/settings/members/",
        f"{ws}/contacts/",
        f"{ws}/broadcasts/",
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_main_pages_have_no_serious_or_critical_accessibility_violations(
    browser, server, axe_source, scheme
):
    ready = Ready()
    pages = main_pages(server, ready)
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 820}, color_scheme=scheme
    )
    context.set_default_timeout(ui.TIMEOUT_MS)
    page = context.new_page()
    found = {}
    for path in ("/login/", "/signup/"):
        page.goto(path)
        found[path] = axe_violations(page, axe_source)
    log_in(page, "nia@example.com")
    for path in pages:
        page.goto(path)
        found[path] = axe_violations(page, axe_source)
    failing = {path: v for path, v in found.items() if v}
    assert not failing, "\n".join(f"{scheme} {path}:\n{describe(v)}" for path, v in failing.items())
    context.close()


def test_dark_mode_follows_the_system_setting(browser, server):
    ready = Ready()
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(base_url=server.url, color_scheme=scheme)
        page = context.new_page()
        log_in(page, "nia@example.com")
        page.goto(f"/w/{ready.ws}/settings/carrier/")
        colours[scheme] = page.evaluate("""() => {
            const css = (selector, property) =>
                getComputedStyle(document.querySelector(selector))[property];
            return {body: css('body', 'backgroundColor'), text: css('body', 'color'),
                    card: css('.card', 'backgroundColor'),
                    input: css('main input[type=text]', 'backgroundColor')};
        }""")
        context.close()

    def luminance(rgb: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    light, dark = colours["light"], colours["dark"]
    assert luminance(light["body"]) > 0.8 and luminance(dark["body"]) < 0.05
    assert luminance(dark["card"]) < 0.05 and luminance(dark["input"]) < 0.05  # no white boxes
    for scheme in colours.values():  # body text stays readable (WCAG AA: 4.5:1) in both
        low, high = sorted([luminance(scheme["body"]), luminance(scheme["text"])])
        assert (high + 0.05) / (low + 0.05) >= 4.5


def test_inbox_shortcuts_move_between_conversations_focus_the_composer_and_send(browser, server):
    ready = Ready()
    first = api(server, ready.key, "/api/messages", {"to": "+14155550111", "body": "First"})
    second = api(server, ready.key, "/api/messages", {"to": "+14155550122", "body": "Second"})
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/inbox/")
    order = page.locator(".conv-list a.conv").evaluate_all(
        "links => links.map(a => a.dataset.conversationId)"
    )
    assert sorted(order) == sorted([first["conversation_id"], second["conversation_id"]])

    page.keyboard.press("j")  # nothing open yet: the first conversation
    page.wait_for_url(f"**/inbox/{order[0]}/")
    page.keyboard.press("j")
    page.wait_for_url(f"**/inbox/{order[1]}/")
    page.keyboard.press("j")  # already the last: stays
    page.keyboard.press("k")
    page.wait_for_url(f"**/inbox/{order[0]}/")

    # Letters typed in a field are text, never shortcuts.
    page.keyboard.press("c")
    composer = page.locator("form.composer textarea[name=body]")
    assert page.evaluate("document.activeElement.name") == "body"
    page.keyboard.type("just checking")
    assert composer.input_value() == "just checking"
    assert page.url.endswith(f"/inbox/{order[0]}/")
    page.get_by_label(re.compile("Simulate a reply")).fill("")
    page.get_by_label(re.compile("Simulate a reply")).press("k")
    assert page.url.endswith(f"/inbox/{order[0]}/")

    # The send chord works from the composer.
    composer.fill("Sent from the keyboard")
    composer.press("Control+Enter")
    page.locator(".bubble.outbound", has_text="Sent from the keyboard").wait_for()
    assert page.url.endswith(f"/inbox/{order[0]}/")
    assert page.locator(".bubble.outbound", has_text="Sent from the keyboard").count() == 1

    # ? lists them, in a dialog; Esc closes it.
    page.locator("body").focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.wait_for()
    text = dialog.inner_text()
    for words in ("Next conversation", "Previous conversation", "Write a message", "Send the message"):
        assert words in text
    page.keyboard.press("j")  # not while the dialog is open
    assert page.url.endswith(f"/inbox/{order[0]}/")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    page.get_by_role("button", name="Shortcuts (?)").click()
    dialog.wait_for()
    context.close()


def test_the_send_chord_sends_a_new_message_from_the_start_page(browser, server):
    ready = Ready()
    context, page = new_page(browser, server)
    log_in(page, "nia@example.com")
    page.goto(f"/w/{ready.ws}/inbox/")
    page.get_by_label("To", exact=True).fill("+14155550133")
    page.get_by_label("Message", exact=True).fill("Hello from the chord")
    page.get_by_label("Message", exact=True).press("Control+Enter")
    page.locator(".bubble.outbound", has_text="Hello from the chord").wait_for()
    context.close()
