"""Secrets handed to clients once and stored only as a hash."""

import hashlib
import secrets


def generate_secret(prefix: str, nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def hash_secret(raw: str) -> str:
    # The secrets are 256-bit random values, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()
