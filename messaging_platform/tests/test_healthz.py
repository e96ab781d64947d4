from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_reports_every_dependency_ok():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok",
                               "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}


def test_it_is_a_503_when_the_database_is_down():
    failing = mock.Mock(side_effect=OperationalError("connection refused"))
    with mock.patch.dict("messaging_platform.health.__dict__", _check_database=failing):
        response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "error: OperationalError", "cache": "ok", "broker": "ok"}


def test_it_is_a_503_when_the_cache_server_is_unreachable(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"].startswith("error: ")
    assert response.json()["checks"]["database"] == "ok"


def test_it_is_a_503_when_the_broker_is_unreachable(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from messaging_platform.celery import app

    connect = app.connection_for_write
    with mock.patch.object(app, "connection_for_write",
                           lambda: connect(url="redis://127.0.0.1:1/0")):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error: ")


def test_it_answers_plain_http_even_when_https_is_enforced(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/login/").status_code == 301
