"""Issue 18 items 5, 6, 11: a new password ends every session, "log out everywhere", password-reset
requests limited like logins (revealing nothing), and names that would break emails refused."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import session_token_issue

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_password_reset_ends_every_session_token(user, mailoutbox):
    api = bearer(session_token_issue(user=user).token)
    assert api.get(ME).status_code == 200
    browser = Client()
    browser.post("/password-reset/", {"email": user.email})
    link = re.search(r"http://\S+(/password-reset/\S+/\S+/)", mailoutbox[0].body)[1]
    form = browser.get(link, follow=True)
    set_password_url = form.redirect_chain[-1][0]
    done = browser.post(
        set_password_url,
        {"new_password1": "a-brand-new-passphrase-7", "new_password2": "a-brand-new-passphrase-7"},
    )
    assert done.status_code == 302 and done["Location"].endswith("/password-reset/done/")
    assert api.get(ME).status_code == 401


def test_a_password_change_ends_other_sessions_and_keeps_this_browser(user):
    api = bearer(session_token_issue(user=user).token)
    other_browser = Client()
    other_browser.force_login(user)
    this_browser = Client()
    this_browser.force_login(user)
    response = this_browser.post(
        "/account/",
        {
            "old_password": "correct-horse-9",
            "new_password1": "a-brand-new-passphrase-7",
            "new_password2": "a-brand-new-passphrase-7",
        },
    )
    assert response.status_code == 302
    assert api.get(ME).status_code == 401
    assert other_browser.get("/").status_code == 302  # sent to log in
    assert this_browser.get("/").status_code == 200


def test_log_out_everywhere_from_the_api_and_the_account_page(user):
    first, second = (bearer(session_token_issue(user=user).token) for _ in range(2))
    browser = Client()
    browser.force_login(user)
    assert first.post("/api/auth/logout-everywhere").status_code == 204
    assert first.get(ME).status_code == 401 and second.get(ME).status_code == 401
    assert browser.get("/").status_code == 302

    api = bearer(session_token_issue(user=user).token)
    user.refresh_from_db()  # the new generation: sessions made from here on are valid
    browser.force_login(user)
    other = Client()
    other.force_login(user)
    page = browser.get("/account/")
    assert "Log out everywhere" in page.content.decode()
    response = browser.post("/account/", {"everywhere": "1"})
    assert response.status_code == 302 and response["Location"].endswith("/login/")
    assert api.get(ME).status_code == 401
    assert other.get("/").status_code == 302 and browser.get("/").status_code == 302


def test_password_reset_requests_are_limited_per_address_without_revealing_accounts(
    user, settings, mailoutbox
):
    settings.PASSWORD_RESET_RATE_PER_ACCOUNT = "3/h"
    answers = {}
    for email in (user.email, "nobody@example.com"):
        client = Client(REMOTE_ADDR=f"10.0.0.{len(answers) + 1}")
        statuses = [client.post("/password-reset/", {"email": email}).status_code for _ in range(5)]
        last = client.post("/password-reset/", {"email": email.upper()})
        answers[email] = (
            statuses,
            last.status_code,
            re.sub(
                r"\d+ minute",
                "N minute",
                re.search(r'role="alert">(.*?)</div>', last.content.decode(), re.S)[1],
            ),
        )
    assert answers[user.email] == answers["nobody@example.com"]
    statuses, status, text = answers[user.email]
    assert statuses == [302, 302, 302, 429, 429] and status == 429
    assert "Too many password-reset requests; try again in N minute" in text
    assert len(mailoutbox) == 3


def test_password_reset_requests_are_limited_per_client_address(user, settings, mailoutbox):
    settings.PASSWORD_RESET_RATE_PER_ADDRESS = "4/h"
    client = Client(REMOTE_ADDR="10.0.0.9")
    statuses = [
        client.post("/password-reset/", {"email": f"person{i}@example.com"}).status_code for i in range(4)
    ]
    assert statuses == [302] * 4
    assert client.post("/password-reset/", {"email": user.email}).status_code == 429
    assert mailoutbox == []
    assert Client(REMOTE_ADDR="10.0.0.10").post("/password-reset/", {"email": user.email}).status_code == 302
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    "name", ["Acme\r\nBcc: victim@example.com", "Tab\there", "Null\x00byte", "Line\u2028separator"]
)
def test_workspace_names_with_control_characters_are_refused(owner_client, workspace, user, name):
    created = owner_client.post("/api/ui/workspaces", {"name": name}, format="json")
    assert created.status_code == 400 and created.json()["error"] == "invalid_params"
    renamed = owner_client.patch(f"/api/ui/workspaces/{workspace.pk}", {"name": name}, format="json")
    assert renamed.status_code == 400
    browser = Client()
    browser.force_login(user)
    page = browser.post("/workspaces/new/", {"name": name})
    assert page.status_code == 200 and "not allowed" in page.content.decode()
    workspace.refresh_from_db()
    assert workspace.name == "Acme"
    assert user.memberships.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_invitation_email_that_fails_is_not_reported_as_sent(user, workspace, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens: the send fails
    browser = Client()
    browser.force_login(user)
    response = browser.post(
        f"/w/{workspace.pk}/settings/members/", {"email": "guest@example.com", "role": "member"}, follow=True
    )
    page = response.content.decode()
    assert "Invitation sent" not in page
    assert "could not be sent" in page
    assert re.search(r'value="http://\S+/invitations/accept\?token=mp_inv_\S+"', page)
