"""ASGI entry point: HTTP (Django) and WebSocket (Channels) on one server."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_platform.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from messaging_platform.routing import websocket_urlpatterns  # noqa: E402
from operations.metrics import WebSocketMetricsMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketMetricsMiddleware(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
