"""WebSocket routes, collected from the apps that serve them."""

from messaging.routing import websocket_urlpatterns as messaging_routes

websocket_urlpatterns: list = [*messaging_routes]
