"""`manage.py dispatcher`: the dispatch engine's process (Procfile: dispatcher). Runs engine cycles when
woken through Redis and at least every second; stops cleanly on SIGTERM or SIGINT after the cycle in
hand. Several may run at once (they take different tickets and never offer one agent twice)."""

import logging
import signal

from django.core.management.base import BaseCommand

from dispatch.engine import IDLE_SECONDS, dispatcher_run

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the dispatch engine: decide queued tickets in batches as events arrive."

    def add_arguments(self, parser):
        parser.add_argument("--idle-seconds", type=float, default=IDLE_SECONDS, help="cycle at least this often")

    def handle(self, *args, idle_seconds: float, **options):
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("dispatcher started")
        dispatcher_run(stop=lambda: bool(stopping), idle_seconds=idle_seconds)
        log.info("dispatcher stopped")
