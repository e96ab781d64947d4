from django.db import models

from messaging_platform.ids import PrefixedIdField
from workspaces.models import TenantQuerySet, Workspace


class StoredMedia(models.Model):
    """A copy of one media file of a message (its `media_urls[position]`), served from our own
    origin to the workspace's members. Kept in the database so that every web process can serve
    what any worker fetched; `error` says why a file could not be copied (then `data` is empty)."""

    id = PrefixedIdField(prefix="med")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("messaging.Message", on_delete=models.CASCADE, related_name="stored_media")
    position = models.PositiveSmallIntegerField()
    source_url = models.TextField()
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    data = models.BinaryField(null=True, editable=False)
    error = models.CharField(max_length=255, blank=True)
    fetched_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="stored_media_message_position")
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.message_id} #{self.position})"
