"""Secrets handed to clients once and stored only as a hash."""

import hashlib
import secrets
from datetime import timedelta

from django.db import models
from django.utils import timezone

# API keys (workspaces) start with it; the UI API names it to say a key was sent in a session's place.
API_KEY_PREFIX = "mp_live_"


def generate_secret(prefix: str, nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def hash_secret(raw: str) -> str:
    # The secrets are 256-bit random values, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


# last_used_at is written at most this often, so that every authenticated request is not a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def record_use(credential: models.Model) -> None:
    """Set `last_used_at` on a session token or API key, at most once per resolution."""
    now = timezone.now()
    last = credential.last_used_at
    if last is None or now - last > LAST_USED_RESOLUTION:
        type(credential).objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now
