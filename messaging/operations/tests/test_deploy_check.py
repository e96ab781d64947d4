"""`python manage.py check --deploy` is clean under the production settings of docs/deploy.md."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parents[3]


def production_env(**overrides: str) -> dict[str, str]:
    """The required settings of docs/deploy.md, with nothing of the test run's environment."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": "k" * 20 + "-a-long-random-production-secret-key-0123456789",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "sms.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://sms.example.com",
        "PUBLIC_BASE_URL": "https://sms.example.com",
        "USE_X_FORWARDED_PROTO": "true",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"),
        "METRICS_TOKEN": "a-scrape-token",
        **overrides,
    }


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_the_documented_production_settings():
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_a_production_setting_is_weakened():
    # A control: the check does look at the settings (here HSTS turned off).
    result = check_deploy(production_env(SECURE_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr
