"""The workspace pages through Django's test client: tenancy, roles, inline errors, CSRF."""

import re

import pytest
from django.test import Client
from django.urls import get_resolver

from messaging.models import Message
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import ApiKey, Invitation, Workspace

pytestmark = pytest.mark.django_db


def logged_in(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def errors(response) -> list[str]:
    return re.findall(r'class="(?:error|alert)"[^>]*>\s*(?:<p>)?([^<]+)', response.content.decode())


def page_routes() -> list[str]:
    """Every page route of a workspace (the `w/<ws>/…` URL patterns)."""
    return [
        str(p.pattern)
        for r in get_resolver().url_patterns
        for p in getattr(r, "url_patterns", [r])
        if str(p.pattern).startswith("w/<str:ws>")
    ]


@pytest.fixture
def simulator(workspace):
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    return workspace


def test_every_page_of_a_workspace_answers_an_outsider_404_and_changes_nothing(
    workspace, outsider, other_workspace
):
    client = logged_in(outsider)
    routes = page_routes()
    assert len(routes) >= 15
    before = (ApiKey.objects.count(), Workspace.objects.count(), Invitation.objects.count())
    for route in routes:
        url = "/" + re.sub(r"<str:(\w+)>", lambda m: workspace.pk if m[1] == "ws" else "x_1", route)
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"name": "Taken", "role": "owner"})
            assert response.status_code in (404, 405), (method, url, response.status_code)
            if response.status_code == 404:
                assert "Page not found" in response.content.decode()
    assert (ApiKey.objects.count(), Workspace.objects.count(), Invitation.objects.count()) == before


def test_anonymous_visitors_are_sent_to_log_in(workspace):
    response = Client().get(f"/w/{workspace.pk}/inbox/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_members_read_settings_but_cannot_change_them(workspace, member, simulator):
    client = logged_in(member)
    for path in (
        "settings/",
        "settings/carrier/",
        "settings/api-keys/",
        "settings/members/",
        "numbers/",
        "inbox/",
        "messages/",
        "settings/opt-outs/",
    ):
        response = client.get(f"/w/{workspace.pk}/{path}")
        assert response.status_code == 200, path
    page = client.get(f"/w/{workspace.pk}/settings/api-keys/").content.decode()
    assert "Create key" not in page and "owners and admins change them" in page
    for path, data in [
        ("settings/", {"rename-name": "X", "rename": "1"}),
        ("settings/carrier/", {"provider": "simulator"}),
        ("settings/api-keys/", {"name": "k"}),
        ("settings/members/", {"email": "a@example.com", "role": "member"}),
        ("numbers/", {"phone_number": "+15005550006"}),
        ("numbers/import", {}),
    ]:
        response = client.post(f"/w/{workspace.pk}/{path}", data)
        assert response.status_code == 403, path
        assert "Not allowed" in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.name == "Acme"
    assert not ApiKey.objects.exists() and not Invitation.objects.exists()
    assert not PhoneNumber.objects.exists()


def test_the_home_page_offers_to_create_a_first_workspace(make_user):
    client = logged_in(make_user("new@example.com"))
    assert "Create your first workspace" in client.get("/").content.decode()
    response = client.post("/workspaces/new/", {"name": "Fresh"})
    workspace = Workspace.objects.get(name="Fresh")
    assert response["Location"] == f"/w/{workspace.pk}/settings/carrier/"


@pytest.mark.parametrize(
    "name, message", [("", "This field is required."), ("x" * 101, "at most 100 characters")]
)
def test_a_bad_workspace_name_is_an_inline_error(user, name, message):
    response = logged_in(user).post("/workspaces/new/", {"name": name})
    assert response.status_code == 200
    assert any(message in e for e in errors(response))
    assert not Workspace.objects.exists()


def test_the_settings_page_sets_the_time_zone_from_the_iana_list(user, workspace, member):
    client = logged_in(user)
    page = client.get(f"/w/{workspace.pk}/settings/").content.decode()
    assert '<option value="Europe/Paris">Europe/Paris</option>' in page
    response = client.post(f"/w/{workspace.pk}/settings/", {"tz-timezone": "Europe/Paris", "timezone": "1"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.timezone == "Europe/Paris"
    page = client.get(f"/w/{workspace.pk}/settings/").content.decode()
    assert '<option value="Europe/Paris" selected>' in page
    response = client.post(f"/w/{workspace.pk}/settings/", {"tz-timezone": "Mars/Base", "timezone": "1"})
    assert response.status_code == 400 and errors(response)
    workspace.refresh_from_db()
    assert workspace.timezone == "Europe/Paris"
    # A member reads the zone but has no form to change it.
    page = logged_in(member).get(f"/w/{workspace.pk}/settings/").content.decode()
    assert "Europe/Paris" in page and 'name="tz-timezone"' not in page


def test_renaming_and_deleting_a_workspace_with_confirmation(user, workspace):
    client = logged_in(user)
    client.post(f"/w/{workspace.pk}/settings/", {"rename-name": "Acme Inc", "rename": "1"})
    workspace.refresh_from_db()
    assert workspace.name == "Acme Inc"
    response = client.post(f"/w/{workspace.pk}/settings/", {"delete-confirm": "Acme", "delete": "1"})
    assert response.status_code == 400
    assert "That is not the name of this workspace." in errors(response)
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    response = client.post(f"/w/{workspace.pk}/settings/", {"delete-confirm": "Acme Inc", "delete": "1"})
    assert response["Location"] == "/"
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_an_api_key_is_shown_once_and_revoked_with_a_post(user, workspace):
    client = logged_in(user)
    response = client.post(f"/w/{workspace.pk}/settings/api-keys/", {"name": "CI"})
    key = re.search(r'value="(mp_live_[^"]+)"', response.content.decode())[1]
    api_key = ApiKey.objects.get()
    assert (
        api_key.prefix in key
        and key not in client.get(f"/w/{workspace.pk}/settings/api-keys/").content.decode()
    )
    assert client.get(f"/w/{workspace.pk}/settings/api-keys/{api_key.pk}/revoke").status_code == 405
    client.post(f"/w/{workspace.pk}/settings/api-keys/{api_key.pk}/revoke")
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_invitations_are_sent_and_accepted_through_the_pages(
    user, workspace, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(user).post(
            f"/w/{workspace.pk}/settings/members/", {"email": "Guest@Example.com", "role": "admin"}
        )
    assert response.status_code == 302
    link = re.search(r"(/invitations/accept\?token=\S+)", mailoutbox[0].body)[1]
    guest = logged_in(make_user("guest@example.com"))
    assert "Accept invitation" in guest.get(link).content.decode()
    token = link.split("token=")[1]
    response = guest.post("/invitations/accept", {"token": token})
    assert response["Location"] == f"/w/{workspace.pk}/inbox/"
    again = guest.post("/invitations/accept", {"token": token})
    assert again.status_code == 400 and "already used" in again.content.decode()


def test_the_accept_page_answers_another_emails_invitation_like_an_unknown_one(
    user, workspace, outsider, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in(user).post(
            f"/w/{workspace.pk}/settings/members/", {"email": "guest@example.com", "role": "admin"}
        )
    token = re.search(r"/invitations/accept\?token=(\S+)", mailoutbox[0].body)[1]
    client = logged_in(outsider)
    wrong_person = client.post("/invitations/accept", {"token": token})
    unknown = client.post("/invitations/accept", {"token": "mp_inv_made-up"})
    assert wrong_person.status_code == unknown.status_code == 400

    def alert(response) -> str:
        return re.search(r'role="alert">([^<]*)<', response.content.decode())[1]

    assert alert(wrong_person) == alert(unknown)
    # Still sensible for someone signed in with the wrong account: it says which one is in use.
    assert "signed in with" in alert(unknown)
    assert outsider.email in wrong_person.content.decode()
    assert workspace.name not in wrong_person.content.decode()
    assert not workspace.memberships.filter(user=outsider).exists()


def test_a_stale_csrf_token_saves_nothing_and_explains(user, workspace):
    client = logged_in(user, csrf=True)
    client.get(f"/w/{workspace.pk}/settings/api-keys/")
    response = client.post(
        f"/w/{workspace.pk}/settings/api-keys/", {"name": "k", "csrfmiddlewaretoken": "x" * 64}
    )
    assert response.status_code == 403
    assert "Your form expired" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_carrier_secrets_are_never_echoed_back(user, workspace, fake_twilio, make_twilio_account):
    account = make_twilio_account()
    client = logged_in(user)
    response = client.post(
        f"/w/{workspace.pk}/settings/carrier/",
        {"provider": "twilio", "account_sid": account.sid, "auth_token": "wrong-token-123"},
    )
    assert response.status_code == 400
    assert "wrong-token-123" not in response.content.decode()
    assert not ProviderAccount.objects.exists()
    response = client.post(
        f"/w/{workspace.pk}/settings/carrier/",
        {"provider": "twilio", "account_sid": account.sid, "auth_token": account.auth_token},
    )
    assert response.status_code == 302
    page = client.get(f"/w/{workspace.pk}/settings/carrier/").content.decode()
    assert account.auth_token not in page and "A token is stored" in page
    response = client.post(f"/w/{workspace.pk}/settings/carrier/test", follow=True)
    assert "Connected to" in response.content.decode()


def test_sending_from_the_composer_uses_the_api_rules(user, workspace, simulator):
    client = logged_in(user)
    numbers = client.get(f"/w/{workspace.pk}/numbers/").content.decode()
    ours = re.findall(r'name="phone_number" value="([^"]+)"', numbers)[0]
    client.post(f"/w/{workspace.pk}/numbers/", {"phone_number": ours})
    for data, message in [
        ({"to": "+1555", "body": "hi"}, "not a valid phone number"),
        ({"to": "+14155550123", "body": ""}, "This field is required."),
        ({"to": "+14155550123", "body": "x" * 1601}, "at most 1600"),
        ({"to": "+14155550123", "body": "hi", "from_number": "+1999"}, "Select a valid choice"),
    ]:
        # Post/redirect/get: the errors are shown on the page the composer was on.
        response = client.post(f"/w/{workspace.pk}/inbox/send", data, follow=True)
        assert response.redirect_chain == [(f"/w/{workspace.pk}/inbox/", 302)]
        assert any(message in e for e in errors(response)), (data, errors(response))
    assert not Message.objects.exists()
    response = client.post(f"/w/{workspace.pk}/inbox/send", {"to": "+1 415 555 0123", "body": "hi"})
    message = Message.objects.get()
    assert message.to_number == "+14155550123" and message.sent_by == user
    assert response["Location"] == f"/w/{workspace.pk}/inbox/{message.conversation_id}/"


def test_the_messages_log_shows_filter_errors_inline(user, workspace):
    response = logged_in(user).get(f"/w/{workspace.pk}/messages/", {"from": "not-a-number", "search": "x"})
    assert response.status_code == 400
    assert any("not a phone number" in e for e in errors(response))
