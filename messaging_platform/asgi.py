"""ASGI entry point: HTTP (Django) and WebSocket (Channels) on one server."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_platform.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from messaging.operations.metrics import WebSocketMetricsMiddleware  # noqa: E402
from messaging_platform import daphne_compat  # noqa: E402
from messaging_platform.routing import websocket_urlpatterns  # noqa: E402
from messaging_platform.websocket_server import ServerSendInScope, plain_debug_labels  # noqa: E402

plain_debug_labels()  # autobahn's per-frame debug labels without click's styling

daphne_compat.install()  # close reasons reach the client (daphne drops them otherwise)

if settings.EMBEDDED_BEAT:
    # The embedded default has no beat process: the periodic tasks run in a thread of this server.
    from messaging_platform.embedded_beat import start_in_process as start_embedded_beat  # noqa: E402

    start_embedded_beat()

if settings.SMPP_BINDS_IN_PROCESS:
    # The embedded default has no bind process: the SMPP binds run in a thread of this server.
    from numbers.providers.smpp.binds import start_in_process as start_smpp_binds  # noqa: E402

    start_smpp_binds()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": ServerSendInScope(
            WebSocketMetricsMiddleware(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
