"""Settings refuse to start insecurely, pass Django's deployment checks, and CI uses real services."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from conftest import IN_CI, require_service, uses_postgres

BASE_DIR = Path(settings.BASE_DIR)
FERNET_KEY = "Uvuxn6MjzysptEGrdrxDdPMmyUT-KrNCDj6H1Me0OYw="


def production_env(**overrides: str | None) -> dict[str, str]:
    """A production-like environment, built from scratch (nothing of the test run leaks in)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "messaging_platform.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEY": FERNET_KEY,
        "ALLOWED_HOSTS": "example.com",
        "CSRF_TRUSTED_ORIGINS": "https://example.com",
        "PUBLIC_BASE_URL": "https://example.com",
        "LOG_LEVEL": "ERROR",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


IMPORT_SETTINGS = ["-c", "import django; django.setup()"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
@pytest.mark.parametrize("debug", [None, "false", "0"])
def test_it_refuses_to_start_without_a_secret_when_debug_is_off(missing, debug):
    result = run(IMPORT_SETTINGS, production_env(**{missing: None, "DEBUG": debug}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_it_starts_without_secrets_in_debug_mode():
    result = run(IMPORT_SETTINGS, production_env(SECRET_KEY=None, FIELD_ENCRYPTION_KEY=None, DEBUG="true"))
    assert result.returncode == 0, result.stderr


def test_it_starts_with_a_production_environment():
    result = run(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "assert not settings.DEBUG; assert settings.SESSION_COOKIE_SECURE",
        ],
        production_env(),
    )
    assert result.returncode == 0, result.stderr


def test_behind_a_transaction_pooler_nothing_is_prepared_on_the_server_nor_streamed_by_cursor():
    check = (
        "import django; django.setup(); from django.conf import settings; "
        "db = settings.DATABASES['default']; "
        "print(db['OPTIONS'].get('prepare_threshold', 'unset'), "
        "db.get('DISABLE_SERVER_SIDE_CURSORS', False))"
    )
    url = "postgres://app@db.internal:6432/app"
    pooled = run(["-c", check], production_env(DATABASE_URL=url, DATABASE_TRANSACTION_POOLING="true"))
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.split() == ["None", "True"]
    direct = run(["-c", check], production_env(DATABASE_URL=url))
    assert direct.stdout.split() == ["unset", "False"]


@pytest.mark.parametrize(
    "services",
    [
        {},
        {
            "DATABASE_URL": "postgres://app@db.internal:5432/app",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "USE_X_FORWARDED_PROTO": "true",
        },
    ],
    ids=["embedded", "postgres-and-redis"],
)
def test_the_deployment_checks_are_clean_in_production(services):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(**services))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_under_ci_the_database_is_postgresql():
    if not IN_CI:
        pytest.skip("only under CI (CI=true), where PostgreSQL is required")
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_under_ci_redis_is_the_reachable_cache():
    if not IN_CI:
        pytest.skip("only under CI (CI=true), where Redis is required")
    require_service("Redis (REDIS_URL)", bool(os.environ.get("REDIS_URL")))
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache.set("ci-probe", "here", 10)
    assert cache.get("ci-probe") == "here"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
