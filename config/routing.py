from django.urls import path

from dispatch.consumers import AgentConsumer
from dispatch.supervisor_consumer import SupervisorConsumer

websocket_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/supervisor/", SupervisorConsumer.as_asgi()),
]
