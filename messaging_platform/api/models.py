from django.db import models


class IdempotencyRecord(models.Model):
    """The answer to a POST made with an Idempotency-Key, replayed for 24 hours."""

    # Who made the request: "key:<api key id>" or "usr:<user id>", so keys never collide across callers.
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="one_record_per_idempotency_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
