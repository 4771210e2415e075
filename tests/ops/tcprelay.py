"""A TCP relay: `python -m tests.ops.tcprelay LISTEN_HOST:PORT TARGET_HOST:PORT [TARGET_HOST:PORT ...]`.

With several targets it is a load balancer: each new connection goes to the next target in turn, and
to the one after when a target refuses it (a process that is stopping no longer listens).

The shared PostgreSQL and Redis of this machine listen on 127.0.0.1 only; hosts in network namespaces
reach them through this relay, listening on the machine's end of their link. A link that is cut sends
no FIN: keepalive probes every second find the dead side within a few seconds, and the relay then
closes the other side too, so PostgreSQL rolls back whatever a cut host's transaction held.
"""

import asyncio
import itertools
import socket
import sys


def _keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 5000)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen: str, *targets: str) -> None:
    listen_host, listen_port = listen.rsplit(":", 1)
    upstreams = [(host, int(port)) for host, port in (target.rsplit(":", 1) for target in targets)]
    turn = itertools.count()

    async def open_upstream():
        first = next(turn)
        for offset in range(len(upstreams)):
            host, port = upstreams[(first + offset) % len(upstreams)]
            try:
                return await asyncio.open_connection(host, port)
            except OSError:
                continue
        raise OSError("no target accepts connections")

    async def relay(client_reader, client_writer):
        _keepalive(client_writer)
        try:
            upstream_reader, upstream_writer = await open_upstream()
        except OSError:
            client_writer.close()
            return
        _keepalive(upstream_writer)
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))

    server = await asyncio.start_server(relay, listen_host, int(listen_port), reuse_address=True)
    print(f"relaying {listen} -> {' '.join(targets)}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], *sys.argv[2:]))
