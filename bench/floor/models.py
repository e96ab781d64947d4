from django.db import models


class Note(models.Model):
    """One row per request, about as wide as an accepted message's essentials."""

    to = models.CharField(max_length=16)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.to}: {self.body[:20]}"
