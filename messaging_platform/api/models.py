from django.db import models

from messaging_platform.crypto import EncryptedTextField


class IdempotencyRecord(models.Model):
    """The answer to a POST made with an Idempotency-Key, replayed for 24 hours."""

    # Who made the request: "key:<api key id>" or "usr:<user id>", so keys never collide across callers.
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    # The answer as JSON, encrypted: it may hold a secret shown once (an API key's `key`).
    body = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="one_record_per_idempotency_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class CredentialsVersion(models.Model):
    """One row whose token a database trigger replaces, in the writing transaction, whenever an
    API key, a workspace's active flag, a carrier account or a number changes (by any path: a
    service, the admin, a bulk update). The per-process caches of `credentials.py` compare it
    once per request; any difference empties them."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.CharField(max_length=36)

    def __str__(self) -> str:
        return self.token
