"""Hosts of the test's own: network namespaces on this machine, each linked to it by a veth pair.

A host sees the machine as LINK_IP(host).1 and is LINK_IP(host).2 itself. The shared PostgreSQL and Redis
listen on 127.0.0.1 only, so a relay (tests.ops.tcprelay) on the machine's end of each link carries a
host's connections to them. Needs root and a kernel with network namespaces and veth (CI has both); a
machine without them fails the test saying so.
"""

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.live import ManagedProcess


def run(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")


def netns_unavailable() -> str | None:
    """Why this machine cannot make network namespaces, or None."""
    probe = f"dspprobe{os.getpid() % 100000}"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "netns", "del", probe)
        return None
    except (RuntimeError, FileNotFoundError) as exc:
        return (
            f"the two-host test needs `ip netns` and veth (root, iproute2, a kernel with CONFIG_NET_NS and "
            f"CONFIG_VETH); here: {exc}"
        )


@dataclass
class Host:
    letter: str
    second_octet: int
    log_dir: Path
    tag: str = field(default_factory=lambda: str(os.getpid() % 250))
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def netns(self) -> str:
        return f"dsp{self.tag}{self.letter}"

    @property
    def machine_end(self) -> str:  # the veth end on the machine
        return f"dsp{self.tag}{self.letter}0"

    @property
    def host_end(self) -> str:
        return f"dsp{self.tag}{self.letter}1"

    @property
    def machine_ip(self) -> str:
        return f"10.{self.second_octet}.{self.tag}.1"

    @property
    def ip(self) -> str:
        return f"10.{self.second_octet}.{self.tag}.2"

    def create(self) -> None:
        self.destroy()  # what an earlier, interrupted run left
        run("ip", "netns", "add", self.netns)
        run("ip", "link", "add", self.machine_end, "type", "veth", "peer", "name", self.host_end)
        run("ip", "link", "set", self.host_end, "netns", self.netns)
        run("ip", "addr", "add", f"{self.machine_ip}/24", "dev", self.machine_end)
        run("ip", "link", "set", self.machine_end, "up")
        run("ip", "-n", self.netns, "addr", "add", f"{self.ip}/24", "dev", self.host_end)
        run("ip", "-n", self.netns, "link", "set", self.host_end, "up")
        run("ip", "-n", self.netns, "link", "set", "lo", "up")

    def relay(self, port: int) -> ManagedProcess:
        """127.0.0.1:`port` of the machine, reachable from the host at machine_ip:`port`."""
        process = ManagedProcess(
            f"relay-{self.letter}-{port}",
            [sys.executable, "-m", "tests.ops.tcprelay", f"{self.machine_ip}:{port}", f"127.0.0.1:{port}"],
            {**os.environ},
            self.log_dir / f"relay-{self.letter}-{port}.log",
        )
        process.start()
        self.processes.append(process)
        return process

    def start(self, name: str, args: list[str], env: dict) -> ManagedProcess:
        process = ManagedProcess(
            f"{name}-{self.letter}",
            ["ip", "netns", "exec", self.netns, *args],
            env,
            self.log_dir / f"{name}-{self.letter}.log",
        )
        process.start()
        self.processes.append(process)
        return process

    def cut(self) -> None:
        """The host's cable is pulled: its end of the link goes down. The machine's end keeps its route
        (to a link without carrier), so packets to the host vanish and connections time out, as they do
        when a host is lost; they are not refused, nor sent elsewhere."""
        run("ip", "-n", self.netns, "link", "set", self.host_end, "down")

    def destroy(self) -> None:
        for process in self.processes:
            process.kill()
        self.processes.clear()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.machine_end], capture_output=True)


def web_args() -> list[str]:
    return [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000"] + [
        "--ws",
        "websockets",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def worker_args(name: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", "--quiet", "worker", "-Q", "dispatch,celery"] + [
        "--loglevel",
        "INFO",
        "--concurrency",
        "2",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"{name}@%h",
    ]

