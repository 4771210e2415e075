import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agents.websocket_auth import WebsocketAuthStack  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from core.limits import RequestBodyLimitASGI  # noqa: E402
from ops.webserver import lifespan  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimitASGI(django_asgi_app),
        "websocket": WebsocketAuthStack(URLRouter(websocket_urlpatterns)),
        # Startup installs the drain of sockets on SIGTERM (ops.webserver).
        "lifespan": lifespan,
    }
)
