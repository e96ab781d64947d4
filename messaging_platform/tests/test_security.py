"""Security checks across the platform: secrets never shown or logged, guessing rate limited,
production HTTP headers, `check --deploy` clean."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import session_token_issue
from conftest import all_rows_text, assert_error
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE
from messaging_platform.testing.twilio_params import signature_headers, status_params
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import Membership
from workspaces.services import api_key_revoke

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent.parent


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def every_log_line():
    """Every log record of every logger at DEBUG (SQL too), formatted with any traceback."""
    capture = Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict)),
    ]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(capture)
    connection.force_debug_cursor = True
    yield capture.lines
    connection.force_debug_cursor = False
    logging.getLogger().removeHandler(capture)
    for lg, level in levels:
        lg.setLevel(level)


def test_no_secret_appears_in_any_log_line_answer_admin_page_or_stored_row(
    every_log_line, settings, fake_twilio, twilio_account, django_capture_on_commit_callbacks
):
    settings.TWILIO_LOG_LEVEL = "DEBUG"
    answers: list[str] = []

    def keep(response):
        answers.append(response.content.decode(errors="replace"))
        answers.append(repr(sorted(response.items())))
        return response

    anon, password = APIClient(), "Zebra-orbit-4471"
    signup = keep(
        anon.post(
            "/api/auth/signup",
            {"email": "sec@example.com", "password": password, "name": "Sec"},
            format="json",
        )
    )
    keep(
        anon.post(
            "/api/auth/login", {"email": "sec@example.com", "password": "wrong-" + password}, format="json"
        )
    )
    login = keep(
        anon.post("/api/auth/login", {"email": "sec@example.com", "password": password}, format="json")
    )
    session = login.json()["token"]
    ui = APIClient()
    ui.credentials(HTTP_AUTHORIZATION=f"Bearer {session}")
    ws = keep(ui.post("/api/ui/workspaces", {"name": "Sec Co"}, format="json")).json()["id"]
    base = f"/api/ui/workspaces/{ws}"
    key = keep(ui.post(f"{base}/api-keys", {"name": "k"}, format="json")).json()["key"]
    keep(ui.get(f"{base}/api-keys"))
    keep(
        ui.put(
            f"{base}/provider",
            {"provider": "twilio", "account_sid": twilio_account.sid, "auth_token": "not-the-token-0000"},
            format="json",
        )
    )
    keep(
        ui.put(
            f"{base}/provider",
            {
                "provider": "twilio",
                "account_sid": twilio_account.sid,
                "auth_token": twilio_account.auth_token,
            },
            format="json",
        )
    )
    keep(ui.get(f"{base}/provider"))
    keep(ui.post(f"{base}/provider/test"))
    keep(ui.post(f"{base}/numbers", {"phone_number": TWILIO_LONG_CODE}, format="json"))
    integrator = APIClient()
    integrator.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    with django_capture_on_commit_callbacks(execute=True):
        sent = keep(integrator.post("/api/messages", {"to": "+14155552671", "body": "hi"}, format="json"))
    message = keep(integrator.get(f"/api/messages/{sent.json()['id']}")).json()
    keep(integrator.get("/api/workspace"))
    for wrong in (key[:-2] + "xx", session[:-2] + "xx", "Bearer", key + " extra"):
        keep(APIClient().get("/api/workspace", HTTP_AUTHORIZATION=f"Bearer {wrong}"))
    path = f"/webhooks/twilio/{ws}/status?message_id={message['id']}"
    params = status_params(
        message_sid=message["provider_sid"] or "SM" + "0" * 32,
        status="delivered",
        to_number="+14155552671",
        from_number=TWILIO_LONG_CODE,
    )
    with django_capture_on_commit_callbacks(execute=True):
        keep(
            Client().post(
                path,
                params,
                headers=signature_headers("http://testserver" + path, params, twilio_account.auth_token),
            )
        )
        keep(Client().post(path, params, headers={"X-Twilio-Signature": "forged"}))
    keep(ui.post("/api/auth/logout"))
    keep(ui.get("/api/auth/me"))

    operator = User.objects.create_superuser(email="op@example.com", password="op-pass-123-x", name="Op")
    pages = Client()
    pages.force_login(operator)
    for model in admin.site._registry:
        meta = model._meta
        keep(pages.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")))
        for obj in model._default_manager.all()[:3]:
            keep(pages.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])))

    secrets = {
        "password": password,
        "session token": session,
        "API key": key,
        "signup session token": signup.json()["token"],
        "Twilio auth token": twilio_account.auth_token,
        "SECRET_KEY": settings.SECRET_KEY,
        **{f"encryption key {n}": k for n, k in enumerate(settings.FIELD_ENCRYPTION_KEYS)},
    }
    assert signup.status_code == 201 and sent.status_code == 201
    assert len(every_log_line) > 50  # SQL and request logs were captured
    places = {
        "log lines": "\n".join(every_log_line),
        "answers": "\n".join(answers),
        "stored rows": all_rows_text(),
    }
    # A key's creation answer and a token's login answer show it once, by design: the only place.
    shown_once = {"API key", "session token", "signup session token"}
    found = [
        (what, where)
        for what, value in secrets.items()
        for where, text in places.items()
        if value in text and not (what in shown_once and where == "answers" and text.count(value) == 1)
    ]
    assert found == []


def test_guessing_api_keys_from_one_address_is_rate_limited(api_client, settings):
    settings.BEARER_FAILURE_RATE_PER_ADDRESS = "5/15m"
    guesser = APIClient(REMOTE_ADDR="203.0.113.9")
    for n in range(5):
        guesser.credentials(HTTP_AUTHORIZATION=f"Bearer mp_live_guess{n}")
        assert_error(guesser.get("/api/workspace"), 401, "unauthorized")
    guesser.credentials(HTTP_AUTHORIZATION="Bearer mp_live_guess5")
    body = assert_error(response := guesser.get("/api/workspace"), 429, "rate_limited")
    assert int(response["Retry-After"]) > 0 and "Too many" in body["detail"]
    # Another address is not affected.
    assert api_client.get("/api/workspace", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_an_address_over_the_guessing_limit_still_serves_its_valid_credentials(
    api_key, user, workspace, member, settings
):
    # One misconfigured client behind a shared NAT must not lock out the good ones on that address.
    settings.BEARER_FAILURE_RATE_PER_ADDRESS = "3/15m"
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    PhoneNumber.objects.create(
        workspace=workspace, phone_number="+14155550199", sms_enabled=True, is_default=True
    )
    nat = "203.0.113.20"
    for n in range(3):
        APIClient(REMOTE_ADDR=nat).get("/api/workspace", HTTP_AUTHORIZATION=f"Bearer mp_live_bad{n}")
    good = APIClient(REMOTE_ADDR=nat)
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.key}")
    assert good.get("/api/workspace").status_code == 200
    sent = good.post("/api/messages", {"to": "+14155550100", "body": "still works"}, format="json")
    assert sent.status_code == 201, sent.content
    ui = APIClient(REMOTE_ADDR=nat)
    ui.credentials(HTTP_AUTHORIZATION=f"Bearer {session_token_issue(user=member).token}")
    assert ui.get("/api/auth/me").status_code == 200

    bad = APIClient(REMOTE_ADDR=nat)
    bad.credentials(HTTP_AUTHORIZATION="Bearer mp_live_bad-again")
    body = assert_error(response := bad.get("/api/workspace"), 429, "rate_limited")
    assert int(response["Retry-After"]) > 0 and "Too many" in body["detail"]
    bad.credentials(HTTP_AUTHORIZATION="Bearer mp_sess_bad-again")
    assert_error(response := bad.get("/api/auth/me"), 429, "rate_limited")
    assert int(response["Retry-After"]) > 0
    # A revoked key counts as unknown: refused with the same 429, not let through.
    api_key_revoke(
        actor=Membership.objects.get(user=user, workspace=workspace), api_key_id=api_key.api_key.id
    )
    assert_error(good.get("/api/workspace"), 429, "rate_limited")


def test_guessing_session_tokens_is_rate_limited_too(settings):
    settings.BEARER_FAILURE_RATE_PER_ADDRESS = "3/15m"
    guesser = APIClient(REMOTE_ADDR="203.0.113.10")
    guesser.credentials(HTTP_AUTHORIZATION="Bearer mp_sess_guess")
    codes = [guesser.get("/api/auth/me").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_a_missing_or_forged_client_address_never_breaks_login(settings):
    settings.CLIENT_ADDRESS_META_KEY = "HTTP_X_FORWARDED_FOR"
    for address in ("", "not-an-ip", "1.2.3.4, 10.0.0.1", "::1"):
        response = APIClient().post(
            "/api/auth/login",
            {"email": "a@example.com", "password": "x"},
            format="json",
            HTTP_X_FORWARDED_FOR=address,
        )
        assert_error(response, 401, "unauthorized")


def test_production_answers_carry_the_hardening_headers(client, user):
    # The test run is DEBUG off, so these are the production settings (bar the HTTPS redirect).
    for path in ("/login/", "/api/auth/me", "/healthz"):
        response = client.get(path, secure=True)
        assert response["Strict-Transport-Security"].startswith("max-age=31536000"), path
        assert response["X-Content-Type-Options"] == "nosniff", path
        assert response["Referrer-Policy"] == "same-origin", path
        assert response["X-Frame-Options"] == "DENY", path
    page = client.get("/login/", secure=True)
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.cookies["csrftoken"]["secure"]
    response = client.post("/login/", {"username": user.email, "password": "correct-horse-9"}, secure=True)
    assert response.status_code == 302
    session_cookie = response.cookies["sessionid"]
    assert session_cookie["secure"] and session_cookie["httponly"]


def test_the_login_form_refuses_a_post_without_a_csrf_token(user):
    response = Client(enforce_csrf_checks=True).post(
        "/login/", {"username": user.email, "password": "correct-horse-9"}, secure=True
    )
    assert response.status_code == 403


def test_check_deploy_is_clean_under_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECURE_SSL_REDIRECT")}
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x7!" * 20 + "production-like-secret-key",
            "ALLOWED_HOSTS": "sms.example.com",
            "PUBLIC_BASE_URL": "https://sms.example.com",
            "FIELD_ENCRYPTION_KEY": "Uvuxn6MjzysptEGrdrxDdPMmyUT-KrNCDj6H1Me0OYw=",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
