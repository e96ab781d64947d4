"""A message's stored media, to the members of its workspace only."""

from django.http import Http404, HttpRequest, HttpResponse

from messaging.selectors import access_message
from workspaces.pages import workspace_page

from .services import message_media


@workspace_page
def media_file(request: HttpRequest, message_id: str, position: int) -> HttpResponse:
    message = access_message(workspace=request.workspace, message_id=message_id)
    media = message_media(message=message, position=position)
    if media is None or media.data is None:
        raise Http404("This attachment is not stored (yet).")
    response = HttpResponse(bytes(media.data), content_type=media.content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=86400"
    # Opened on its own, the file can run nothing.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
