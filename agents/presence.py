"""Presence: which agents are online, on how many sockets, and since when.

An agent chooses online / away / offline; their sockets say whether they can actually be reached.
A lost connection is not "offline" at once: after `presence_grace_seconds` without any socket the
sweep sets the agent offline, and after `requeue_after_seconds` their open tickets go back to the queue
(dispatch.services.tickets_requeue_for_absent_agents). Several tabs are several connections of one agent.
An agent who goes online (or opens a socket while online) may be offered work: actions.people tells
dispatch.

Each stretch online is a PresenceInterval row (shift guarantees are paid on it). Only presence_set opens
and closes intervals, in the transaction that changes the presence; connect and heartbeat, the hot path of
every socket, never touch them. The sweep closes the interval of an agent whose connection was lost at the
moment the last socket went, and repairs intervals that disagree with the presence.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Subquery, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from agents.events import agent_status_push
from agents.locks import agent_lock
from agents.models import Agent, AgentConnection, PresenceInterval
from core.errors import InvalidInput

# A socket that has not pinged for this long belongs to a process that died without closing it.
STALE_CONNECTION_SECONDS = 90
HEARTBEAT_WRITE_SECONDS = settings.PRESENCE_HEARTBEAT_SECONDS


def _recount_sockets(agent_ids, *, now) -> None:
    """Set `open_sockets` from the connection rows of `agent_ids`, in one statement however many (connects
    come by the thousand after a deploy); `disconnected_at` marks when the last one closed."""
    open_sockets = Coalesce(
        Subquery(
            AgentConnection.objects.filter(agent_id=OuterRef("pk"))
            .order_by()
            .values("agent_id")
            .annotate(n=Count("pk"))
            .values("n")
        ),
        0,
    )
    Agent.objects.filter(pk__in=list(agent_ids)).update(
        open_sockets=open_sockets,
        disconnected_at=Case(
            When(Exists(AgentConnection.objects.filter(agent_id=OuterRef("pk"))), then=None), default=now
        ),
    )


def presence_connect_many(*, connections) -> dict:
    """Record open sockets, `connections` being (agent id, channel name) pairs, in three statements
    however many: the connection rows, every agent's socket count, and the agents' rows read back
    (returned by id). Call inside a transaction (actions.people.sockets_opened)."""
    now = timezone.now()
    AgentConnection.objects.bulk_create(
        [
            AgentConnection(channel_name=channel, agent_id=agent_id, last_seen_at=now)
            for agent_id, channel in connections
        ],
        update_conflicts=True,
        unique_fields=["channel_name"],
        update_fields=["agent", "last_seen_at"],
    )
    agent_ids = {agent_id for agent_id, _ in connections}
    _recount_sockets(agent_ids, now=now)
    return {agent.pk: agent for agent in Agent.objects.filter(pk__in=list(agent_ids))}


@transaction.atomic
def presence_connect(*, agent_id, channel_name: str) -> Agent:
    return presence_connect_many(connections=[(agent_id, channel_name)])[agent_id]


@transaction.atomic
def presence_disconnect_many(*, connections) -> None:
    """Forget closed sockets, (agent id, channel name) pairs, and recount their agents' sockets."""
    AgentConnection.objects.filter(channel_name__in=[channel for _, channel in connections]).delete()
    _recount_sockets({agent_id for agent_id, _ in connections}, now=timezone.now())


def presence_disconnect(*, agent_id, channel_name: str) -> None:
    presence_disconnect_many(connections=[(agent_id, channel_name)])


def presence_heartbeat(*, channel_names) -> int:
    """Mark sockets alive. Each server process reports all the sockets it holds in one statement every
    HEARTBEAT_WRITE_SECONDS (console.consumers), so a ping costs no write however many agents are
    connected; the sockets of a process that died stop being marked and the sweep closes them."""
    if not channel_names:
        return 0
    return AgentConnection.objects.filter(channel_name__in=list(channel_names)).update(last_seen_at=timezone.now())


def _online_seconds_until(agent: Agent, until) -> int:
    if agent.presence == Agent.Presence.ONLINE and agent.presence_changed_at:
        return max(0, int((until - agent.presence_changed_at).total_seconds()))
    return 0


BREAK_MINUTES_DEFAULT = 15
BREAK_MINUTES_MAX = 120


@transaction.atomic
def presence_set(
    *, agent: Agent, status: str, reason: str = "", online_until=None, break_minutes: int | None = None
) -> Agent:
    """The agent's own choice (or the system's, with a reason the agent is told).

    `online_until`: when an agent leaves online, the moment they were last reachable if that was before
    now (the sweep passes when the last socket closed); online time and the interval end there.
    A break needs a reason (at most 200 characters) and lasts `break_minutes` (1..120, default 15): the
    console counts down to `break_until`; the agent comes back by choosing online. A break, "no new
    work", away and offline are all offered nothing (dispatch offers only to online agents).
    """

    if status not in Agent.Presence.values:
        raise InvalidInput({"status": [f"Presence must be one of {', '.join(Agent.Presence.values)}, not {status!r}."]})
    now = timezone.now()
    break_until = None
    if status == Agent.Presence.BREAK:
        reason = (reason or "").strip() if isinstance(reason, str) else ""
        if not reason:
            raise InvalidInput({"reason": ["Say why you take a break (e.g. lunch); your supervisor sees it."]})
        if len(reason) > 200:
            raise InvalidInput({"reason": ["A break reason is at most 200 characters."]})
        minutes = BREAK_MINUTES_DEFAULT if break_minutes in (None, "") else break_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= BREAK_MINUTES_MAX:
            raise InvalidInput({"minutes": [f"A break lasts 1 to {BREAK_MINUTES_MAX} minutes."]})
        break_until = now + timedelta(minutes=minutes)
    agent = agent_lock(agent_id=agent.pk)
    if status == Agent.Presence.BREAK and agent.presence == Agent.Presence.BREAK:
        # A new reason or length for the break they are on.
        Agent.objects.filter(pk=agent.pk).update(presence_reason=reason, break_until=break_until)
        agent.refresh_from_db()
        agent_status_push(agent=agent)
        return agent
    if agent.presence != status:
        was_online = agent.presence == Agent.Presence.ONLINE
        until = now
        if was_online and online_until is not None and agent.presence_changed_at:
            until = min(now, max(online_until, agent.presence_changed_at))
        Agent.objects.filter(pk=agent.pk).update(
            presence=status,
            presence_changed_at=now,
            presence_reason=reason,
            break_until=break_until,
            online_seconds=F("online_seconds") + _online_seconds_until(agent, until),
        )
        open_intervals = PresenceInterval.objects.filter(agent_id=agent.pk, ended_at__isnull=True)
        if was_online:
            open_intervals.update(ended_at=Greatest(F("started_at"), until))
        if status == Agent.Presence.ONLINE:
            # An interval left open by a presence written around presence_set ends where this one starts.
            open_intervals.update(ended_at=Greatest(F("started_at"), now))
            PresenceInterval.objects.create(agent_id=agent.pk, started_at=now)
        agent.refresh_from_db()
        agent_status_push(agent=agent)
    return agent


def agent_online_seconds(agent: Agent, *, now=None) -> int:
    """Seconds online in total, including the current stretch."""
    return agent.online_seconds + _online_seconds_until(agent, now or timezone.now())


def presence_intervals_repair(*, now=None) -> int:
    """Make intervals agree with presence where something wrote presence around presence_set (a
    migration, an admin, a test factory): open intervals of agents no longer online end when their
    presence changed; agents online without an open interval get one from when they went online.
    Returns how many intervals were closed or opened."""
    now = now or timezone.now()
    changed_at = Agent.objects.filter(pk=OuterRef("agent_id")).values("presence_changed_at")[:1]
    closed = (
        PresenceInterval.objects.filter(ended_at__isnull=True)
        .exclude(agent__presence=Agent.Presence.ONLINE)
        .update(ended_at=Greatest(F("started_at"), Coalesce(Subquery(changed_at), now)))
    )
    missing = (
        Agent.objects.filter(presence=Agent.Presence.ONLINE)
        .exclude(Exists(PresenceInterval.objects.filter(agent_id=OuterRef("pk"), ended_at__isnull=True)))
        .values_list("pk", "presence_changed_at")
    )
    opened = PresenceInterval.objects.bulk_create(
        [PresenceInterval(agent_id=pk, started_at=started_at or now) for pk, started_at in missing],
        # presence_set may open one at the same moment; theirs wins (one open interval per agent).
        ignore_conflicts=True,
    )
    return closed + len(opened)


def _connection_lost_text(agent: Agent) -> str:
    with override(agent.ui_language or "en"):  # the agent reads it, in the language they chose
        return _("Your connection was lost.")


def presence_sweep(*, grace_seconds: int) -> int:
    """Close sockets of dead processes and set agents offline whose last socket closed over
    `grace_seconds` ago: they count as online until that last socket closed. Returns how many agents
    went offline."""
    now = timezone.now()
    stale = list(
        AgentConnection.objects.filter(last_seen_at__lt=now - timedelta(seconds=STALE_CONNECTION_SECONDS)).values_list(
            "channel_name", "agent_id"
        )
    )
    if stale:
        presence_disconnect_many(connections=[(agent_id, channel_name) for channel_name, agent_id in stale])
    gone = Agent.objects.filter(
        open_sockets=0,
        disconnected_at__lt=now - timedelta(seconds=grace_seconds),
    ).exclude(presence=Agent.Presence.OFFLINE)
    went_offline = 0
    for agent in gone:
        presence_set(
            agent=agent,
            status=Agent.Presence.OFFLINE,
            reason=_connection_lost_text(agent),
            online_until=agent.disconnected_at,
        )
        went_offline += 1
    presence_intervals_repair(now=now)
    return went_offline
