from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_reports_every_dependency_ok():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


def test_it_is_a_503_when_the_database_is_down():
    failing = mock.Mock(side_effect=OperationalError("connection refused"))
    with mock.patch.dict("messaging_platform.health.__dict__", _check_database=failing):
        response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "error: OperationalError", "cache": "ok", "broker": "ok"}


def test_it_is_a_503_when_the_cache_server_is_unreachable(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"].startswith("error: ")
    assert response.json()["checks"]["database"] == "ok"


def test_it_is_a_503_when_the_broker_is_unreachable(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from messaging_platform.celery import app

    connect = app.connection_for_write
    with mock.patch.object(app, "connection_for_write", lambda: connect(url="redis://127.0.0.1:1/0")):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error: ")


def test_it_answers_plain_http_even_when_https_is_enforced(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/login/").status_code == 301


@pytest.fixture
def production(settings):
    """DEBUG off, one allowed host, HTTPS enforced: as a deployment behind a load balancer runs."""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["sms.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    return settings


@pytest.mark.parametrize(
    "host", ["10.0.3.17", "10.0.3.17:8000", "[fd00::17]:8000", "evil.example", "sms.example.com"]
)
def test_it_answers_a_probe_whatever_the_host_header(production, host):
    for secure in (False, True):
        response = Client().get("/healthz", HTTP_HOST=host, secure=secure)
        assert response.status_code == 200, (host, secure, response.content[:200])
        assert response.json()["status"] == "ok"
        assert response["X-Content-Type-Options"] == "nosniff"
    assert Client().head("/healthz", HTTP_HOST=host).status_code == 200


def test_no_other_path_escapes_host_validation(production):
    for path in (
        "/healthz/",
        "/healthzz",
        "/healthz.json",
        "/x/healthz",
        "/login/",
        "/api/auth/me",
        "/api/healthz",
        "/admin/",
    ):
        for secure in (False, True):
            response = Client().get(path, HTTP_HOST="10.0.3.17", secure=secure)
            assert response.status_code == 400, (path, secure, response.status_code)
    # The allowed host still reaches the site, and plain HTTP is still sent to HTTPS.
    response = Client().get("/login/", HTTP_HOST="sms.example.com")
    assert response.status_code == 301
    assert response["Location"] == "https://sms.example.com/login/"
    assert Client().get("/login/", HTTP_HOST="sms.example.com", secure=True).status_code == 200
