"""A web process that leaves gracefully (README: "Production", deploy/README.md "Rolling out").

On SIGTERM uvicorn stops and, left alone, cuts every websocket with 1012 and no word. The lifespan
startup of this ASGI application (config.asgi) takes over the server's shutdown of its own process:

1. stop listening: the load balancer's next connection goes to another process;
2. every socket of this process is sent `{"type": "reconnect"}` and closed with close code 4012
   (core.sockets.CLOSE_CODE_RECONNECT); the console reconnects at once, with jitter, elsewhere;
   the disconnects are written (presence) before the process goes on;
3. uvicorn's own shutdown: HTTP requests in progress finish, within GRACEFUL_SHUTDOWN_SECONDS.

So a web process exits at most SOCKET_DRAIN_SECONDS + GRACEFUL_SHUTDOWN_SECONDS after SIGTERM. Works
for `uvicorn --workers N` too: each worker process drains its own sockets.
"""

import logging
import os
import signal
import time

from core.sockets import OPEN_SOCKETS, sockets_drain

log = logging.getLogger(__name__)

SOCKET_DRAIN_SECONDS = float(os.environ.get("SOCKET_DRAIN_SECONDS", "3"))
GRACEFUL_SHUTDOWN_SECONDS = float(os.environ.get("GRACEFUL_SHUTDOWN_SECONDS", "7"))


def graceful_shutdown_install() -> bool:
    """Called in the server's event loop at lifespan startup, after uvicorn has installed its signal
    handlers: its SIGTERM handler is a method of the running server, whose shutdown gets the drain."""
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    if server is None or not hasattr(server, "shutdown") or not hasattr(server, "config"):
        log.warning("not running under uvicorn's server: sockets are not drained on SIGTERM")
        return False
    if server.config.timeout_graceful_shutdown is None:
        server.config.timeout_graceful_shutdown = GRACEFUL_SHUTDOWN_SECONDS
    uvicorn_shutdown = server.shutdown

    async def shutdown(sockets=None):
        for listening in getattr(server, "servers", []):
            listening.close()  # no new connections from here on
        started = time.monotonic()
        drained = await sockets_drain(timeout_seconds=SOCKET_DRAIN_SECONDS)
        log.info(
            "stopping: told %d sockets to reconnect elsewhere in %.2fs; %d still open, %d tasks running",
            drained,
            time.monotonic() - started,
            len(OPEN_SOCKETS),
            len(server.server_state.tasks),
        )
        await uvicorn_shutdown(sockets)

    server.shutdown = shutdown
    return True


async def lifespan(scope, receive, send):
    """The ASGI lifespan protocol of the web process (config.asgi routes "lifespan" here)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            graceful_shutdown_install()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
