from django.urls import path

from console.consumers import AgentConsumer
from supervisor.consumers import SupervisorConsumer

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/supervisor/", SupervisorConsumer.as_asgi()),
]
