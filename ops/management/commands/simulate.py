"""python manage.py simulate --agents 2000 --rate 50 --duration 60

Load and demo against a running system (e.g. `make run` in another terminal): synthetic agents on real
websockets, escalations through the real intake API, webhooks to a local receiver. See dispatch/loadsim.
"""

import asyncio
import logging

from django.core.management.base import BaseCommand, CommandError

from agents.models import MAX_CONCURRENT_MAX, MAX_CONCURRENT_MIN
from tools.loadsim.agents import AgentBehaviour
from tools.loadsim.population import sim_leftovers_cancel, sim_population_ensure
from tools.loadsim.run import SimConfig, simulate
from tools.loadsim.stats import SimStats
from tools.loadsim.webhooks import WebhookReceiver


def seconds_range(option: str, text: str) -> tuple[float, float]:
    """'2-8' -> (2.0, 8.0); '3' -> (3.0, 3.0)."""
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError as exc:
        raise CommandError(f"--{option}: expected seconds like 2-8, not {text!r}") from exc
    if not 0 <= bounds[0] <= bounds[1]:
        raise CommandError(f"--{option}: expected 0 <= low <= high, not {text!r}")
    return bounds


def language_mix(text: str) -> tuple[tuple[str, float], ...]:
    """'en:6,de:3,sv:1' -> (("en", 6.0), ...); a language without a weight weighs 1."""
    mix = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _, weight = part.partition(":")
        try:
            mix.append((code, float(weight or 1)))
        except ValueError as exc:
            raise CommandError(f"--languages: expected code:weight, not {part!r}") from exc
        if len(code) != 2 or mix[-1][1] <= 0:
            raise CommandError(f"--languages: expected a two-letter code and a positive weight, not {part!r}")
    if not mix:
        raise CommandError("--languages: name at least one language")
    return tuple(mix)


def share(option: str, value: float) -> float:
    if not 0 <= value <= 1:
        raise CommandError(f"--{option}: a share between 0 and 1, not {value}")
    return value


class Command(BaseCommand):
    help = "Simulate agents and escalations against a running system and report what they observed."

    def add_arguments(self, parser):
        parser.add_argument("--agents", type=int, default=2000, help="synthetic agents online (default 2000)")
        parser.add_argument("--rate", type=float, default=50, help="escalations per second, Poisson (default 50)")
        parser.add_argument("--duration", type=float, default=60, help="seconds of escalations (default 60)")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="base URL of the running system; several comma-separated to spread agents and intake",
        )
        parser.add_argument("--think", default="1-5", help="seconds before an accept, low-high (default 1-5)")
        parser.add_argument("--handle", default="10-30", help="seconds from assigned to resolved (default 10-30)")
        parser.add_argument("--decline-share", type=float, default=0.05, help="offers declined (default 0.05)")
        parser.add_argument("--ignore-share", type=float, default=0.02, help="offers left to expire (default 0.02)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--languages", default="en:6,de:3,sv:1", help="ticket languages with weights")
        parser.add_argument(
            "--skills",
            default="payments,refunds,disputes,account",
            help="skills agents have and tickets may need (created when missing); empty for none",
        )
        parser.add_argument("--skill-share", type=float, default=0.5, help="tickets that need a skill (default 0.5)")
        parser.add_argument(
            "--containment",
            type=float,
            default=0.6,
            help="share of the bot's conversations it finishes alone, reported as contained (default 0.6)",
        )
        parser.add_argument(
            "--avoidable-share", type=float, default=0.3, help="resolved tickets agents mark avoidable (default 0.3)"
        )
        parser.add_argument("--max-concurrent", type=int, default=2, help="tickets an agent holds at once")
        parser.add_argument("--report-every", type=float, default=5, help="seconds between progress lines")
        parser.add_argument("--drain", type=float, default=None, help="seconds to wait for open tickets at the end")
        parser.add_argument("--webhook-host", default="127.0.0.1", help="where the webhook receiver listens")
        parser.add_argument("--webhook-port", type=int, default=0, help="its port (default: any free port)")

    def handle(self, *args, **options):
        if options["agents"] < 1 or options["rate"] <= 0 or options["duration"] <= 0:
            raise CommandError("--agents, --rate and --duration must be positive")
        if not MAX_CONCURRENT_MIN <= options["max_concurrent"] <= MAX_CONCURRENT_MAX:
            raise CommandError(f"--max-concurrent: {MAX_CONCURRENT_MIN}..{MAX_CONCURRENT_MAX}")
        behaviour = AgentBehaviour(
            think_seconds=seconds_range("think", options["think"]),
            handle_seconds=seconds_range("handle", options["handle"]),
            decline_share=share("decline-share", options["decline_share"]),
            ignore_share=share("ignore-share", options["ignore_share"]),
            avoidable_share=share("avoidable-share", options["avoidable_share"]),
        )
        if behaviour.decline_share + behaviour.ignore_share > 1:
            raise CommandError("--decline-share plus --ignore-share must not exceed 1")
        config = SimConfig(
            agents=options["agents"],
            rate=options["rate"],
            duration_seconds=options["duration"],
            behaviour=behaviour,
            languages=language_mix(options["languages"]),
            skills=tuple(filter(None, (code.strip() for code in options["skills"].split(",")))),
            skill_share=share("skill-share", options["skill_share"]),
            containment_share=share("containment", options["containment"]),
            seed=options["seed"],
            report_every_seconds=options["report_every"],
            drain_seconds=options["drain"],
        )
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the progress
        api_urls = [url.strip().rstrip("/") for url in options["url"].split(",") if url.strip()]

        receiver = WebhookReceiver(stats=SimStats(), host=options["webhook_host"], port=options["webhook_port"])
        receiver.start()
        try:
            self.stdout.write(f"preparing {config.agents} synthetic agents and the integration sim-bot ...")
            population = sim_population_ensure(
                agents=config.agents,
                languages=list(config.languages),
                skills=list(config.skills),
                webhook_url=receiver.url,
                seed=config.seed,
                max_concurrent=options["max_concurrent"],
            )
            receiver.secret = population.webhook_secret
            if leftovers := sim_leftovers_cancel():
                self.stdout.write(f"cancelled {leftovers} tickets an earlier run left open")
            stats = asyncio.run(
                simulate(config=config, population=population, api_urls=api_urls, receiver=receiver, say=self.say)
            )
        finally:
            receiver.stop()
        self.stdout.write("")
        for line in stats.summary_lines():
            self.stdout.write(line)

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
