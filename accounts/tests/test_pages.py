"""The server-rendered sign-up and login pages, on Django's cookie session with CSRF."""

import re

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


def csrf_token(client: Client, path: str) -> str:
    html = client.get(path).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]


def test_home_sends_an_anonymous_visitor_to_the_login_page():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_signing_up_creates_the_account_and_logs_in():
    client = Client(enforce_csrf_checks=True)
    token = csrf_token(client, "/signup/")
    response = client.post(
        "/signup/",
        {
            "name": "Nia New",
            "email": "Nia@Example.com",
            "password": "a-long-passphrase-1",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert User.objects.get().email == "nia@example.com"
    home = client.get("/")
    assert home.status_code == 200
    assert "nia@example.com" in home.content.decode()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": "N", "email": "owner@example.com", "password": "a-long-passphrase-1"}, "already exists"),
        ({"name": "N", "email": "not-an-email", "password": "a-long-passphrase-1"}, "valid email"),
        ({"name": "N", "email": "n@example.com", "password": "short"}, "too short"),
        ({"name": "", "email": "n@example.com", "password": "a-long-passphrase-1"}, "required"),
    ],
)
def test_signup_shows_inline_errors_and_creates_nothing(user, fields, message):
    response = Client().post("/signup/", fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert User.objects.count() == 1


def test_logging_in_with_the_right_password_opens_home(user, workspace):
    client = Client(enforce_csrf_checks=True)
    token = csrf_token(client, "/login/")
    response = client.post(
        "/login/",
        {"username": "OWNER@example.com", "password": "correct-horse-9", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    home = client.get("/").content.decode()
    assert "Acme" in home and workspace.id in home


def test_a_wrong_password_shows_an_inline_error(user):
    client = Client()
    response = client.post("/login/", {"username": user.email, "password": "wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "enter a correct email and password" in html.lower()
    assert client.get("/").status_code == 302


def test_a_post_without_a_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    response = client.post("/login/", {"username": user.email, "password": "correct-horse-9"})
    assert response.status_code == 403
    assert client.get("/").status_code == 302
    response = Client(enforce_csrf_checks=True).post(
        "/signup/", {"name": "N", "email": "n@example.com", "password": "a-long-passphrase-1"}
    )
    assert response.status_code == 403
    assert not User.objects.filter(email="n@example.com").exists()


def test_the_cookie_session_reaches_the_ui_api_but_writes_need_csrf(user, workspace):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/ui/workspaces").status_code == 200
    refused = client.post("/api/ui/workspaces", {"name": "X"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    token = csrf_token(client, "/")
    allowed = client.post(
        "/api/ui/workspaces", {"name": "X"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert allowed.status_code == 201


def test_bearer_requests_need_no_csrf_token(owner_client):
    owner_client.enforce_csrf_checks = True
    assert owner_client.post("/api/ui/workspaces", {"name": "X"}, format="json").status_code == 201


def test_logging_out_ends_the_cookie_session(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = csrf_token(client, "/")
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_failed_logins_on_the_page_are_rate_limited_like_the_api(user, settings):
    settings.LOGIN_FAILURE_RATE_PER_ACCOUNT = "3/m"
    client = Client()
    for _ in range(3):
        client.post("/login/", {"username": user.email, "password": "wrong"})
    response = client.post("/login/", {"username": user.email, "password": "correct-horse-9"})
    assert response.status_code == 200
    assert "Too many failed logins" in response.content.decode()
    assert client.get("/").status_code == 302
    api = client.post(
        "/api/auth/login",
        {"email": user.email, "password": "correct-horse-9"},
        content_type="application/json",
    )
    assert api.status_code == 429
