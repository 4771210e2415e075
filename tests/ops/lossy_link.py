"""A slow, lossy IP link into a network namespace, in user space: what `tc qdisc add … netem delay 300ms
loss 5%` does, for kernels built without sch_netem (this machine's: CONFIG_NET_SCH_NETEM is not set).

    python -m tests.ops.lossy_link NETNS NAME LOCAL_IP PEER_IP DELAY_MS LOSS_PERCENT

Two TUN devices: NAME+"r" here (LOCAL_IP, peer PEER_IP) and NAME+"h", moved into NETNS (PEER_IP, peer
LOCAL_IP). Every IP packet read from one is written to the other DELAY_MS later, unless it is one of
the LOSS_PERCENT dropped at random, in both directions. TCP sees real loss and real delay: it
retransmits, backs off and reorders as on a bad mobile network. Prints "ready" once the link is up.
"""

import fcntl
import heapq
import os
import random
import selectors
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MTU = 1500


def tun_open(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def main(netns: str, name: str, local_ip: str, peer_ip: str, delay_ms: str, loss_percent: str) -> None:
    delay, loss = float(delay_ms) / 1000, float(loss_percent) / 100
    here, there = f"{name}r", f"{name}h"
    here_fd, there_fd = tun_open(here), tun_open(there)
    ip("link", "set", there, "netns", netns)
    ip("addr", "add", local_ip, "peer", peer_ip, "dev", here)
    ip("link", "set", here, "mtu", str(MTU), "up")
    ip("-n", netns, "addr", "add", peer_ip, "peer", local_ip, "dev", there)
    ip("-n", netns, "link", "set", there, "mtu", str(MTU), "up")
    print("ready", flush=True)

    other = {here_fd: there_fd, there_fd: here_fd}
    selector = selectors.DefaultSelector()
    for fd in other:
        selector.register(fd, selectors.EVENT_READ)
    in_flight: list[tuple[float, int, int, bytes]] = []  # (due, order, fd to write, packet)
    order = 0
    while True:
        timeout = max(0.0, in_flight[0][0] - time.monotonic()) if in_flight else None
        for key, _ in selector.select(timeout):
            while True:
                try:
                    packet = os.read(key.fd, 65536)
                except BlockingIOError:
                    break
                if random.random() >= loss:
                    order += 1
                    heapq.heappush(in_flight, (time.monotonic() + delay, order, other[key.fd], packet))
        now = time.monotonic()
        while in_flight and in_flight[0][0] <= now:
            _, _, fd, packet = heapq.heappop(in_flight)
            try:
                os.write(fd, packet)
            except OSError:
                pass  # the other side is down: the packet is lost, as on a real link


if __name__ == "__main__":
    main(*sys.argv[1:7])
