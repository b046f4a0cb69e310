"""The ASGI application daphne serves: static files on the event loop (static_asgi.py),
the rest of HTTP through Django, WebSocket through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "teamchat.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import WebSocketAuthMiddleware  # noqa: E402
from realtime.transport import install as write_sockets_at_once  # noqa: E402
from teamchat.memory import settle_after_startup  # noqa: E402
from teamchat.routing import websocket_urlpatterns  # noqa: E402
from teamchat.static_asgi import StaticFiles  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Static files on the event loop; everything else through Django.
        "http": StaticFiles(django_asgi_app),
        "websocket": WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)

write_sockets_at_once()
settle_after_startup()
