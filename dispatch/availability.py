"""What the bot can tell a customer before it hands over (GET /api/v1/availability/): is anybody there
who could take the conversation, how many wait before it, and roughly how long.

Cheap enough to ask on every conversation: three small queries (the agents read off the dispatchable
pool's partial index, the queue off its own, and the recent throughput, which is shared for a few
seconds when it is large; tickets.selectors.recent_assignments), and an answer is reused by the same
process for FRESH_SECONDS for the same language and skills: a bot asking for every conversation at a
busy moment asks the same few questions many times a second, and an answer two seconds old tells the
customer the same thing.
"""

import threading
import time
from dataclasses import asdict, dataclass

from django.db.models import Count, Q

from agents.models import AgentLanguage, AgentSkill
from dispatch.policy import policy_current
from dispatch.selectors import dispatch_pool
from tickets.models import Ticket, TicketStatus
from tickets.selectors import estimated_wait_seconds, recent_assignments


@dataclass(frozen=True)
class Availability:
    agents_online: int  # online agents of the language with every skill at the policy's default level
    agents_free: int  # of those, with room for another ticket and no offer pending
    queue_length: int  # tickets of the language waiting for an agent now
    estimated_wait_seconds: int | None  # for a ticket escalated now; null with no basis (see below)
    open: bool  # somebody who could take it is online

    def as_dict(self) -> dict:
        return asdict(self)


FRESH_SECONDS = 2.0
_answers: dict[tuple, tuple[float, "Availability"]] = {}
_answers_lock = threading.Lock()


def availability_cache_clear() -> None:
    with _answers_lock:
        _answers.clear()


def availability_for(*, language: str, skill_codes: list[str]) -> Availability:
    """availability_read, reused for FRESH_SECONDS by this process (see the module's docstring)."""
    key = (language, tuple(sorted(skill_codes)))
    with _answers_lock:
        cached = _answers.get(key)
    if cached is not None and time.monotonic() - cached[0] < FRESH_SECONDS:
        return cached[1]
    answer = availability_read(language=language, skill_codes=skill_codes)
    with _answers_lock:
        if len(_answers) > 1000:  # many distinct skill sets: start again rather than grow without bound
            _answers.clear()
        _answers[key] = (time.monotonic(), answer)
    return answer


def availability_read(*, language: str, skill_codes: list[str]) -> Availability:
    """Who could take a conversation of `language` needing `skill_codes` now.

    The wait estimate is the ticket's own (tickets.selectors.estimated_wait_seconds) for a ticket placed
    behind every queued ticket of the language: (queue_length + 1) x 900 s / tickets assigned in the last
    15 minutes; 0 when an agent is free and nothing of the language waits; null when nobody who could
    take it is online, or nothing was assigned in the last 15 minutes (no basis for an estimate).
    """
    level = policy_current().default_skill_level
    pool = dispatch_pool().filter(pk__in=AgentLanguage.objects.filter(code=language).values("agent_id"))
    for code in skill_codes:
        pool = pool.filter(pk__in=AgentSkill.objects.filter(skill__code=code, level__gte=level).values("agent_id"))
    counts = pool.aggregate(online=Count("pk"), free=Count("pk", filter=Q(has_capacity=True, has_pending_offer=False)))
    queue_length = Ticket.objects.filter(status=TicketStatus.QUEUED, language=language).count()
    is_open = counts["online"] > 0
    if not is_open:
        wait = None
    elif counts["free"] > 0 and queue_length == 0:
        wait = 0
    else:
        wait = estimated_wait_seconds(queue_position=queue_length + 1, assignments_in_window=recent_assignments())
    return Availability(
        agents_online=counts["online"],
        agents_free=counts["free"],
        queue_length=queue_length,
        estimated_wait_seconds=wait,
        open=is_open,
    )
