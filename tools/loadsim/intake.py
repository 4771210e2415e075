"""The bot platform's side: escalations as a Poisson stream through POST /api/v1/tickets/, and the
conversations the bot handled alone around them (POST /api/v1/conversations/): with a containment share
c, each escalation comes with c / (1 - c) contained conversations on average, so the escalation rate is
the one asked for whatever the containment."""

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tools.loadsim.population import weighted_choice
from tools.loadsim.stats import SimStats

REASONS = ["customer_request", "negative_sentiment", "complex_case", "bot_low_confidence"]
TOPICS = ["order_status", "refund", "payment_failed", "address_change", "login"]
ABANDONED_SHARE = 0.05  # of the conversations the bot did not escalate, the customer left before the end


def escalation_body(
    *,
    external_id: str,
    rng: random.Random,
    languages: list,
    skills: list[str],
    skill_share: float,
    conversation: dict | None = None,
):
    """One escalation as the contract describes it. The texts name no skill, so the platform's keyword
    inference adds none: a ticket needs exactly the skills drawn here. With `conversation` (the body the
    bot reported) it belongs to that conversation: its language, topic and customer."""
    at = datetime.now(UTC).isoformat()
    needs = [rng.choice(skills)] if skills and rng.random() < skill_share else []
    linked = {}
    if conversation is not None:
        linked = {"conversation_id": conversation["external_id"], "topic": conversation["topic"]}
    return {
        "external_id": external_id,
        "customer": {
            "ref": conversation["customer_ref"] if conversation else f"sim-c-{rng.randrange(10**6)}",
            "display_name": "Sim Customer",
            "tier": "standard",
        },
        "language": conversation["language"] if conversation else weighted_choice(rng, languages),
        **linked,
        "skills": needs,
        "reason": rng.choice(REASONS),
        "priority": rng.randint(0, 3),
        "sentiment": round(rng.uniform(-1, 0.5), 2),
        "summary": "Simulated escalation: the customer asks for a person.",
        "handoff": {"bot_confidence": round(rng.uniform(0.1, 0.6), 2), "attempted": ["kb:faq"]},
        "transcript": [
            {"role": "customer", "text": "I would like to talk to a person.", "at": at},
            {"role": "bot", "text": "Of course, I am getting a colleague.", "at": at},
        ],
    }


def conversation_body(*, external_id: str, rng: random.Random, languages: list, outcome: str) -> dict:
    """One conversation as the bot reports it; contained ones carry the customer's rating of the bot most
    of the time. Customers come from a small set, so some come back within the week."""
    ended = datetime.now(UTC)
    started = ended - timedelta(seconds=rng.randint(30, 600))
    rated = outcome == "contained" and rng.random() < 0.6
    return {
        "external_id": external_id,
        "language": weighted_choice(rng, languages),
        "outcome": outcome,
        "topic": rng.choice(TOPICS),
        "csat": rng.choice([3, 4, 4, 5, 5]) if rated else None,
        "started_at": started.isoformat(),
        "ended_at": None if outcome == "escalated" else ended.isoformat(),
        "customer_ref": f"sim-c-{rng.randrange(500)}",
    }


class TicketStream:
    """Posts escalations spread round robin over the servers and records when each was sent.

    `stats` may be replaced between benchmark windows; `ticket_ids` keeps every ticket of the run.
    """

    def __init__(
        self,
        *,
        api_urls: list[str],
        token: str,
        stats: SimStats,
        languages: list[tuple[str, float]],
        skills: list[str],
        skill_share: float = 0.5,
        containment_share: float = 0.0,
        seed: int = 1,
    ):
        self.stats = stats
        self.contained_per_escalation = containment_share / (1 - containment_share) if containment_share < 1 else 0
        self.languages = languages
        self.skills = skills
        self.skill_share = skill_share
        self.rng = random.Random(seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.count = 0
        self.ticket_ids: dict[str, str] = {}  # external_id -> ticket id, for the whole run
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        headers = {"Authorization": f"Bearer {token}"}
        self.http = [httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) for url in api_urls]

    async def report_conversation(self, client: httpx.AsyncClient, body: dict) -> None:
        try:
            response = await client.post("/api/v1/conversations/", json=body)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        if status in (200, 201):
            self.stats.conversations[body["outcome"]] += 1
        else:
            self.stats.conversation_failures[status] += 1

    async def post_contained(self, client: httpx.AsyncClient, number: int) -> None:
        """The conversations the bot finished (or the customer left) around one escalation."""
        share = self.contained_per_escalation
        count = int(share) + (1 if self.rng.random() < share - int(share) else 0)
        for n in range(count):
            outcome = "abandoned" if self.rng.random() < ABANDONED_SHARE else "contained"
            body = conversation_body(
                external_id=f"sim-{self.run_id}-{number}-bot{n}",
                rng=self.rng,
                languages=self.languages,
                outcome=outcome,
            )
            await self.report_conversation(client, body)

    async def post_one(self) -> None:
        self.count += 1
        number = self.count  # self.count moves on while this request waits
        external_id = f"sim-{self.run_id}-{number}"
        stats = self.stats
        client = self.http[self.count % len(self.http)]
        conversation = None
        if self.contained_per_escalation:
            conversation = conversation_body(
                external_id=f"sim-{self.run_id}-{number}-conv",
                rng=self.rng,
                languages=self.languages,
                outcome="escalated",
            )
        body = escalation_body(
            external_id=external_id,
            rng=self.rng,
            languages=self.languages,
            skills=self.skills,
            skill_share=self.skill_share,
            conversation=conversation,
        )
        if conversation is not None:
            await self.report_conversation(client, conversation)
        stats.sent_at[external_id] = time.perf_counter()
        try:
            response = await client.post("/api/v1/tickets/", json=body)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        if status in (200, 201):
            ticket_id = response.json()["id"]
            stats.ticket_ids[external_id] = ticket_id
            self.ticket_ids[external_id] = ticket_id
        else:
            stats.intake_failures[status] += 1
        if conversation is not None:
            await self.post_contained(client, number)

    async def run(self, *, rate: float, duration: float) -> None:
        """Escalations at `rate` per second on average (exponential gaps) for `duration` seconds."""
        started = time.perf_counter()
        due = 0.0
        requests = set()
        while True:
            due += self.rng.expovariate(rate)
            if due >= duration:
                break
            await asyncio.sleep(max(0.0, started + due - time.perf_counter()))
            request = asyncio.create_task(self.post_one())
            requests.add(request)
            request.add_done_callback(requests.discard)
        if requests:
            await asyncio.wait(requests)

    async def cancel_unassigned(self, *, assigned_ticket_ids: set[str], concurrency: int = 20) -> int:
        """The customers still waiting leave: cancel every ticket of the run no agent took, so that the
        next run starts with an empty queue. Returns how many were cancelled."""
        waiting = [ticket_id for ticket_id in self.ticket_ids.values() if ticket_id not in assigned_ticket_ids]
        gate = asyncio.Semaphore(concurrency)
        cancelled = 0

        async def cancel(ticket_id: str) -> None:
            nonlocal cancelled
            async with gate:
                try:
                    response = await self.http[0].post(f"/api/v1/tickets/{ticket_id}/cancel/")
                except httpx.HTTPError:
                    return
                cancelled += response.status_code == 200

        await asyncio.gather(*(cancel(ticket_id) for ticket_id in waiting))
        return cancelled

    async def rate_resolved(self, *, resolved_ticket_ids: set[str], share: float = 0.7, concurrency: int = 20) -> int:
        """The customers rate the people who served them (POST /csat/), `share` of them. Returns how many."""
        gate = asyncio.Semaphore(concurrency)
        mine = [t for t in self.ticket_ids.values() if t in resolved_ticket_ids and self.rng.random() < share]
        rated = 0

        async def rate(ticket_id: str) -> None:
            nonlocal rated
            async with gate:
                try:
                    response = await self.http[0].post(
                        f"/api/v1/tickets/{ticket_id}/csat/", json={"score": self.rng.choice([3, 4, 5, 5])}
                    )
                except httpx.HTTPError:
                    return
                rated += response.status_code == 200

        await asyncio.gather(*(rate(ticket_id) for ticket_id in mine))
        return rated

    async def close(self) -> None:
        for client in self.http:
            await client.aclose()
