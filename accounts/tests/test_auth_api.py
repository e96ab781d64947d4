import pytest

from accounts.models import SessionToken, User
from messaging_platform.tokens import hash_secret

pytestmark = pytest.mark.django_db


def signup(client, **overrides):
    body = {"email": "new@example.com", "password": "a-long-passphrase-1", "name": "Nia New"}
    return client.post("/api/auth/signup", body | overrides, format="json")


def test_signup_returns_a_session_token_and_the_user(anon_client):
    response = signup(anon_client)
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("mp_sess_")
    assert body["user"]["email"] == "new@example.com"
    assert body["user"]["id"].startswith("usr_")
    assert body["expires_at"].endswith("Z")


def test_session_tokens_are_stored_only_as_a_hash(anon_client):
    token = signup(anon_client).json()["token"]
    stored = SessionToken.objects.get()
    assert stored.token_hash == hash_secret(token)
    assert token not in str(SessionToken.objects.values_list())


def test_the_token_reaches_me_and_logout_ends_it(anon_client):
    token = signup(anon_client).json()["token"]
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    me = anon_client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["email"] == "new@example.com"
    assert me.json()["workspaces"] == []
    assert anon_client.post("/api/auth/logout").status_code == 204
    after = anon_client.get("/api/auth/me")
    assert after.status_code == 401
    assert after.json()["error"] == "unauthorized"


def test_it_rejects_a_duplicate_email_whatever_its_case(anon_client):
    signup(anon_client)
    response = signup(anon_client, email="NEW@Example.com")
    assert response.status_code == 409
    assert response.json()["error"] == "email_taken"
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "missing_params"),
        ({"email": "x@example.com", "password": "a-long-passphrase-1"}, "missing_params"),
        ({"email": "not-an-email", "password": "a-long-passphrase-1", "name": "N"}, "invalid_params"),
        ({"email": "x@example.com", "password": "short", "name": "N"}, "invalid_params"),
        ({"email": "x@example.com", "password": 12345678901, "name": ["N"]}, "invalid_params"),
        ({"email": "x@example.com", "password": "a-long-passphrase-1", "name": "N" * 151}, "invalid_params"),
    ],
)
def test_it_rejects_bad_signups_without_creating_anyone(anon_client, body, code):
    response = anon_client.post("/api/auth/signup", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert not User.objects.exists()


def test_login_with_the_right_password_issues_a_new_token(anon_client, user):
    response = anon_client.post(
        "/api/auth/login", {"email": "OWNER@example.com", "password": "correct-horse-9"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.id
    assert response.json()["token"].startswith("mp_sess_")


def test_login_with_a_wrong_password_is_a_401(anon_client, user):
    response = anon_client.post(
        "/api/auth/login", {"email": "owner@example.com", "password": "wrong"}, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "Invalid email or password."}


def test_failed_logins_are_rate_limited_per_account(anon_client, user, settings):
    settings.LOGIN_FAILURE_RATE_PER_ACCOUNT = "3/m"
    for _ in range(3):
        anon_client.post("/api/auth/login", {"email": user.email, "password": "nope"}, format="json")
    blocked = anon_client.post(
        "/api/auth/login", {"email": user.email, "password": "correct-horse-9"}, format="json"
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "rate_limited"
    assert int(blocked["Retry-After"]) >= 1


def test_failed_logins_are_rate_limited_per_client_address(anon_client, make_user, settings):
    settings.LOGIN_FAILURE_RATE_PER_ADDRESS = "3/m"
    for n in range(3):
        anon_client.post("/api/auth/login", {"email": f"u{n}@example.com", "password": "x"}, format="json")
    person = make_user("fresh@example.com")
    blocked = anon_client.post(
        "/api/auth/login", {"email": person.email, "password": "correct-horse-9"}, format="json"
    )
    assert blocked.status_code == 429


def test_an_expired_session_token_is_refused(anon_client, user):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import session_token_issue

    issued = session_token_issue(user=user)
    SessionToken.objects.filter(pk=issued.session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    response = anon_client.get("/api/auth/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_missing_token_is_a_401_in_the_error_format(anon_client):
    response = anon_client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
