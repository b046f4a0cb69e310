"""WebSocket routes."""

from django.urls import path

from realtime.consumer import RealtimeConsumer

websocket_urlpatterns = [
    path("ws/", RealtimeConsumer.as_asgi()),
]
