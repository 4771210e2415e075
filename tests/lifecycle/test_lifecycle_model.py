"""The whole life of tickets, offers and agents as a model (Hypothesis' RuleBasedStateMachine).

Each example starts from an empty database with a handful of agents and runs a random sequence of every
verb the platform has: escalate, dispatch, ack, accept, decline, expire, the customer cancelling,
resolve, hand back, warm transfers (to a named agent or a pool; accepted, declined, expired,
withdrawn), wrap-up (ended by the agent or by its timer), supervisor requeue / reassign / cancel,
agents connecting, disconnecting, going online, away, on a break, to "no new work" or offline, being
gone too long, suspend / reinstate, policy changes, and the pay sweep. Each verb is driven through the
services the API, the sockets and the tasks call; time passing (an offer's or a wrap-up's deadline, an
agent gone for long) is simulated by moving the deadline into the past. Where the outcome of a verb is
known from the model's own reading of the rows (an accept of a pending, unexpired offer by an active
agent with room must succeed), the test asserts it.

After every step the invariants hold:
- a ticket is held by at most one agent, and an assigned ticket by exactly its assigned agent;
- an agent's `active_tickets` equals the tickets they hold (assigned, or resolved / handed back and
  still in wrap-up) and never exceeds `max_concurrent`;
- `has_pending_offer` equals having a pending offer; an offered ticket has a pending offer and no
  other ticket has one, except the transfer offers of an assigned ticket with a pending transfer;
- a ticket has at most one pending transfer, and its sender still holds the ticket; each accepted
  transfer's sender is paid for their part exactly once;
- an offer, once answered, never changes again;
- every queued ticket with an eligible free agent is offered within one dispatch pass;
- each finished ticket that an agent held has its pay written exactly once (after the pay sweep), and
  none while its wrap-up runs;
- ledger rows never change.

It runs with a fixed seed (derandomize) on the database of the test run; LIFECYCLE_MODEL_EXAMPLES
raises the number of examples for a longer hunt.
"""

import os
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from actions import supervision, tickets
from agents import presence
from agents.models import Agent, AgentLanguage, AgentSkill
from agents.services import agent_reinstate, agent_suspend
from core.errors import DomainError
from dispatch import services as dispatch
from dispatch.models import Offer, OfferStatus, Transfer, TransferStatus
from dispatch.policy import policy_current
from dispatch.transfers import transfer_create, transfer_withdraw, transfers_sweep
from payouts.models import AssignmentPartPay, PayLine, TicketPay
from payouts.services import ticket_pay_compute
from tests.factories import AgentFactory, UserFactory, integration_with_token, set_policy
from tickets.models import Assignment, Ticket, TicketStatus

S = TicketStatus
OPEN = (S.QUEUED, S.OFFERED, S.ASSIGNED)
FINISHED = (S.RESOLVED, S.HANDED_BACK, S.CANCELLED)
PICK = st.integers(0, 1000)
EXAMPLES = int(os.environ.get("LIFECYCLE_MODEL_EXAMPLES", "60"))

# The pool: languages, skills and room vary, so eligibility and capacity both bind.
AGENTS = [
    {"languages": ["de"], "skills": {"payments": 3}, "max_concurrent": 1},
    {"languages": ["de", "en"], "skills": {"payments": 1, "refunds": 2}, "max_concurrent": 2},
    {"languages": ["en"], "skills": {"refunds": 3}, "max_concurrent": 1},
    {"languages": ["en", "de"], "skills": {}, "max_concurrent": 1},
]
TABLES = [
    "payouts_assignmentpartpay",
    "dispatch_transfer",
    "payouts_payline",
    "payouts_ticketpay",
    "tickets_webhookdelivery",
    "tickets_assignment",
    "tickets_message",
    "tickets_ticketskill",
    "dispatch_offer",
    "dispatch_supervisoralert",
    "tickets_ticket",
    "agents_agentconnection",
    "agents_presenceinterval",
    "agents_agentskill",
    "agents_agentlanguage",
    "agents_auditentry",
    "agents_agent",
    "agents_integration",
    "agents_persontoken",
    "dispatch_dispatchpolicy",
    "agents_user_groups",
    "agents_user",
]


def _empty_database() -> None:
    """Each example starts empty. TRUNCATE, inside the test's transaction: cheap, and the append-only
    triggers of the ledger and the audit log do not see it."""
    with connection.cursor() as cursor:
        # Django's foreign keys are deferred; TRUNCATE refuses to run while their checks are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _held_by_agent() -> Counter:
    """What each agent holds, read from the tickets: assigned to them, or finished and still in wrap-up."""
    held = Ticket.objects.filter(
        Q(status=S.ASSIGNED) | Q(status__in=(S.RESOLVED, S.HANDED_BACK), closed_at__isnull=True),
        assigned_agent__isnull=False,
    )
    return Counter(held.values_list("assigned_agent_id", flat=True))


def _free_and_eligible(ticket: Ticket, *, offer_pending_too: bool = False) -> list[Agent]:
    """The contract's eligibility, read from the rows independently of dispatch's own queries: active,
    online on a socket, room, no offer pending (unless `offer_pending_too`: a supervisor may still
    choose them), the language, every required skill at its level."""
    required = list(ticket.required_skills.values_list("skill_id", "min_level"))
    found = []
    for agent in Agent.objects.filter(status=Agent.Status.ACTIVE, presence=Agent.Presence.ONLINE, open_sockets__gt=0):
        if agent.active_tickets >= agent.max_concurrent or (agent.has_pending_offer and not offer_pending_too):
            continue
        if not AgentLanguage.objects.filter(agent=agent, code=ticket.language).exists():
            continue
        levels = dict(AgentSkill.objects.filter(agent=agent).values_list("skill_id", "level"))
        if all(levels.get(skill_id, 0) >= level for skill_id, level in required):
            found.append(agent)
    return found


class TicketLifeModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        _empty_database()
        self.supervisor = UserFactory(role="supervisor")
        self.integration, _ = integration_with_token()
        # No time-based escalation steps: what is eligible does not depend on how long a ticket waited,
        # so the model can say exactly who may be offered what.
        set_policy(escalation_steps=[], offer_fanout=1, wrap_up_seconds=0, max_missed_offers_in_row=2)
        # Fixed ids and names: ties in the ranking and the model's picks come out the same on every replay.
        self.agents = [
            AgentFactory(id=uuid.UUID(int=index + 1), display_name=f"Agent {index}", **spec)
            for index, spec in enumerate(AGENTS)
        ]
        self.sockets: dict = {agent.pk: [] for agent in self.agents}
        # The shift has started: everyone connected and online (the rules take them away and back).
        for agent in self.agents:
            self.sockets[agent.pk].append(f"model.{uuid.uuid4().hex}")
            presence.presence_connect(agent_id=agent.pk, channel_name=self.sockets[agent.pk][0])
            presence.presence_set(agent=agent, status=Agent.Presence.ONLINE)
        self.answered: dict = {}  # offer id -> its final status, once it left pending
        self.ledger: dict = {}  # pay line id -> what it said when first seen
        self.escalations = 0

    # ------------------------------------------------------------------ helpers

    # Rules draw a number and pick with it from what exists now, so every rule draws the same whatever
    # the database holds, and Hypothesis can replay and shrink a failing sequence.

    def agent(self, pick: int) -> Agent:
        return Agent.objects.get(pk=self.agents[pick % len(self.agents)].pk)

    def ticket_in(self, pick: int, statuses) -> Ticket | None:
        ids = list(Ticket.objects.filter(status__in=statuses).order_by("external_id").values_list("pk", flat=True))
        return Ticket.objects.get(pk=ids[pick % len(ids)]) if ids else None

    def pending_offer(self, pick: int) -> Offer | None:
        # Ordered by what the model named (ids are random), so the same draws pick the same offer.
        ids = list(
            Offer.objects.filter(status=OfferStatus.PENDING)
            .order_by("ticket__external_id", "agent__display_name")
            .values_list("pk", flat=True)
        )
        return Offer.objects.select_related("agent", "ticket").get(pk=ids[pick % len(ids)]) if ids else None

    def expect_refusal(self, call) -> None:
        """A verb that must be refused with a DomainError (a clear 4xx), changing nothing."""
        before = self.snapshot()
        with pytest.raises(DomainError):
            call()
        assert self.snapshot() == before

    def snapshot(self) -> tuple:
        return (
            sorted(Ticket.objects.values_list("pk", "status", "assigned_agent_id", "closed_at")),
            sorted(Agent.objects.values_list("pk", "active_tickets", "has_pending_offer", "status")),
            sorted(Offer.objects.values_list("pk", "status")),
        )

    def system_reacts(self) -> None:
        """What the platform does after every event (its on-commit triggers and the 2 s sweep): a
        dispatch pass. Then no queued ticket may wait while a free agent is eligible for it."""
        dispatch.dispatch_queue()
        for ticket in Ticket.objects.filter(status=S.QUEUED):
            free = _free_and_eligible(ticket)
            assert not free, f"queued ticket {ticket.external_id} left waiting while {free} are free and eligible"

    # ------------------------------------------------------------------ the bot platform and the customer

    @precondition(lambda self: self.escalations < 8)
    @rule(
        language=st.sampled_from(["de", "en"]),
        skills=st.lists(st.sampled_from(["payments", "refunds"]), max_size=2, unique=True),
        vip=st.booleans(),
    )
    def escalate(self, language, skills, vip):
        self.escalations += 1
        ticket, created = tickets.ticket_escalate(
            integration=self.integration,
            external_id=f"chat-{self.escalations}",
            customer={"ref": f"c-{self.escalations % 3}", "tier": "vip" if vip else "standard"},
            language=language,
            reason="customer_request",
            skills=skills,
        )
        assert created and ticket.status == S.QUEUED
        self.system_reacts()

    @rule(pick=PICK)
    def customer_cancels(self, pick):
        ticket = self.ticket_in(pick, OPEN)
        if ticket is not None:
            tickets.ticket_cancel(ticket=ticket)
            ticket.refresh_from_db()
            assert ticket.status == S.CANCELLED
        self.system_reacts()

    # ------------------------------------------------------------------ offers

    @rule(pick=PICK, answer=st.sampled_from(["accept", "accept", "decline", "ack", "expire", "late_accept"]))
    def agent_answers(self, pick, answer):
        offer = self.pending_offer(pick)
        if offer is None:
            return
        agent = Agent.objects.get(pk=offer.agent_id)
        if answer == "accept":
            ticket = Ticket.objects.get(pk=offer.ticket_id)
            if offer.transfer_id is None:
                open_to_take = ticket.status == S.OFFERED
            else:  # a colleague's transfer: still pending, and the colleague still holds the ticket
                transfer = Transfer.objects.get(pk=offer.transfer_id)
                open_to_take = (
                    transfer.status == TransferStatus.PENDING
                    and ticket.status == S.ASSIGNED
                    and ticket.assigned_agent_id == transfer.from_agent_id
                )
            may = (
                offer.expires_at > timezone.now()
                and agent.status == Agent.Status.ACTIVE
                and agent.active_tickets < agent.max_concurrent
                and open_to_take
            )
            if may:  # whatever happened to the ticket before: requeued, reassigned, declined...
                dispatch.offer_accept(offer_id=offer.pk, agent=agent)
                if offer.transfer_id is not None:
                    event("a transfer accepted")  # --hypothesis-show-statistics shows the paths taken
                ticket = Ticket.objects.get(pk=offer.ticket_id)
                assert (ticket.status, ticket.assigned_agent_id) == (S.ASSIGNED, agent.pk)
            else:
                self.expect_refusal(lambda: dispatch.offer_accept(offer_id=offer.pk, agent=agent))
        elif answer == "decline":
            dispatch.offer_decline(offer_id=offer.pk, agent=agent, reason="busy")
        elif answer == "ack":
            dispatch.offer_mark_delivered(offer_id=offer.pk, agent=agent)
        elif answer == "expire":  # its time is up: the task fires (twice: delivered again)
            Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
            assert dispatch.offer_expire(offer_id=offer.pk)
            assert not dispatch.offer_expire(offer_id=offer.pk)
        else:  # an accept after expires_at is refused even though no expiry task ran yet
            Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
            self.expect_refusal(lambda: dispatch.offer_accept(offer_id=offer.pk, agent=agent))
            dispatch.offers_expire_overdue()
        self.system_reacts()

    # ------------------------------------------------------------------ the agent's work

    @rule(pick=PICK, hand_back=st.booleans())
    def agent_finishes(self, pick, hand_back):
        ticket = self.ticket_in(pick, [S.ASSIGNED])
        if ticket is None:
            return
        holder = ticket.assigned_agent
        stranger = next(a for a in self.agents if a.pk != holder.pk)
        self.expect_refusal(lambda: tickets.ticket_resolve(ticket_id=ticket.pk, agent=stranger, outcome="solved"))
        if hand_back:
            tickets.ticket_hand_back(ticket_id=ticket.pk, agent=holder, notes="bot can finish")
        else:
            tickets.ticket_resolve(ticket_id=ticket.pk, agent=holder, outcome="solved")
        self.system_reacts()

    @rule(pick=PICK, who=PICK, to_pool=st.sampled_from([None, "de", "en"]))
    def agent_transfers(self, pick, who, to_pool):
        """The holder asks a named colleague, or a language pool, to take the customer over."""
        ticket = self.ticket_in(pick, [S.ASSIGNED])
        if ticket is None:
            # Assigned tickets are rare among random steps: an agent takes an offer first, so that
            # transfers are exercised often.
            takeable = [
                offer
                for offer in Offer.objects.filter(status=OfferStatus.PENDING, transfer__isnull=True)
                .select_related("agent")
                .order_by("ticket__external_id", "agent__display_name")
                if offer.agent.status == Agent.Status.ACTIVE and offer.agent.active_tickets < offer.agent.max_concurrent
            ]
            if not takeable:
                return
            offer = takeable[pick % len(takeable)]
            dispatch.offer_accept(offer_id=offer.pk, agent=offer.agent)
            ticket = Ticket.objects.get(pk=offer.ticket_id)
        sender = ticket.assigned_agent
        waiting = Transfer.objects.filter(ticket=ticket, status=TransferStatus.PENDING).exists()
        if to_pool is None:
            target = self.agent(who)
            to = {"agent_id": target.pk}
            may = not waiting and target.pk != sender.pk and target in _free_and_eligible(ticket)
        else:
            to = {"language": to_pool}
            someone = (
                Agent.objects.filter(status=Agent.Status.ACTIVE, language_rows__code=to_pool)
                .exclude(pk=sender.pk)
                .exists()
            )
            may = not waiting and someone
        call = lambda: self.in_transaction(  # noqa: E731
            lambda: transfer_create(ticket=Ticket.objects.get(pk=ticket.pk), sender=sender, to=to, note="over to you")
        )
        if not may:
            self.expect_refusal(call)
            event("a transfer refused")
            return
        call()
        event("a transfer asked for")
        ticket.refresh_from_db()
        assert (ticket.status, ticket.assigned_agent_id) == (S.ASSIGNED, sender.pk)  # kept until accepted
        assert Transfer.objects.filter(ticket=ticket, status=TransferStatus.PENDING).count() == 1
        self.system_reacts()

    @rule(pick=PICK, by=st.sampled_from(["sender", "stranger", "timeout"]))
    def transfer_ends(self, pick, by):
        """The sender withdraws a pending transfer, a stranger tries to, or its time runs out (the sweep)."""
        ids = list(
            Transfer.objects.filter(status=TransferStatus.PENDING)
            .order_by("ticket__external_id")
            .values_list("pk", flat=True)
        )
        if not ids:
            return
        transfer = Transfer.objects.select_related("ticket", "from_agent").get(pk=ids[pick % len(ids)])
        if by == "timeout":
            Transfer.objects.filter(pk=transfer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
            assert transfers_sweep()["transfers_expired"] == 1
            assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.EXPIRED
        elif by == "stranger":
            stranger = next(a for a in self.agents if a.pk != transfer.from_agent_id)
            self.expect_refusal(
                lambda: self.in_transaction(lambda: transfer_withdraw(ticket=transfer.ticket, sender=stranger))
            )
            return
        else:
            self.in_transaction(lambda: transfer_withdraw(ticket=transfer.ticket, sender=transfer.from_agent))
            assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.WITHDRAWN
        assert not Offer.objects.filter(transfer=transfer, status=OfferStatus.PENDING).exists()
        ticket = Ticket.objects.get(pk=transfer.ticket_id)
        assert (ticket.status, ticket.assigned_agent_id) == (S.ASSIGNED, transfer.from_agent_id)
        self.system_reacts()

    @staticmethod
    def in_transaction(call):
        """The actions layer's transaction around a dispatch.transfers verb (actions.transfers)."""
        from django.db import transaction

        with transaction.atomic():
            return call()

    @rule(pick=PICK, by_timer=st.booleans())
    def wrap_up_ends(self, pick, by_timer):
        wrapping = list(
            Assignment.objects.filter(released_at__isnull=True, ended_at__isnull=False).order_by("ticket__external_id")
        )
        if not wrapping:
            return
        assignment = wrapping[pick % len(wrapping)]
        if by_timer:
            Assignment.objects.filter(pk=assignment.pk).update(wrap_up_until=timezone.now() - timedelta(seconds=1))
            assert tickets.wrap_ups_end_due() == 1
        else:
            assert tickets.assignment_wrap_up_end(ticket_id=assignment.ticket_id, agent=assignment.agent)
        assert tickets.assignment_wrap_up_end(ticket_id=assignment.ticket_id, agent=assignment.agent) is None
        self.system_reacts()

    @rule()
    def pay_sweep(self):
        for ticket_id in Ticket.objects.filter(status__in=FINISHED, closed_at__isnull=False).values_list(
            "pk", flat=True
        ):
            ticket_pay_compute(ticket_id=ticket_id)
            ticket_pay_compute(ticket_id=ticket_id)  # delivered twice
        for ticket in Ticket.objects.filter(status__in=FINISHED, assigned_agent__isnull=False, closed_at__isnull=False):
            assert TicketPay.objects.filter(ticket=ticket).count() == 1, f"{ticket.external_id} paid wrongly"
            assert PayLine.objects.filter(ticket=ticket, kind="base").count() == 1

    # ------------------------------------------------------------------ presence

    @rule(
        pick=PICK,
        change=st.sampled_from(
            ["socket_opens", "socket_closes", "online", "away", "break", "no_new_work", "offline", "gone_too_long"]
        ),
    )
    def presence_changes(self, pick, change):
        agent = self.agent(pick)
        if change == "socket_opens":
            channel = f"model.{uuid.uuid4().hex}"
            presence.presence_connect(agent_id=agent.pk, channel_name=channel)
            self.sockets[agent.pk].append(channel)
        elif change == "socket_closes":
            if self.sockets[agent.pk]:
                presence.presence_disconnect(agent_id=agent.pk, channel_name=self.sockets[agent.pk].pop())
        elif change == "gone_too_long":
            # Agents without a socket for longer than the policy allows: offline, their tickets requeued.
            policy = policy_current()
            long_ago = timezone.now() - timedelta(seconds=policy.requeue_after_seconds + 5)
            Agent.objects.filter(open_sockets=0).update(disconnected_at=long_ago)
            presence.presence_sweep(grace_seconds=policy.presence_grace_seconds)
            dispatch.tickets_requeue_for_absent_agents(policy=policy)
            for absent in Agent.objects.filter(open_sockets=0):
                assert not Ticket.objects.filter(assigned_agent=absent, status=S.ASSIGNED).exists()
        elif change == "break":
            # A break or "no new work": the agent keeps what they hold and is offered nothing new.
            presence.presence_set(agent=agent, status=change, reason="a coffee", break_minutes=10)
        else:
            presence.presence_set(agent=agent, status=change)
        self.system_reacts()

    # ------------------------------------------------------------------ supervisors

    @rule(pick=PICK, who=PICK, action=st.sampled_from(["requeue", "requeue", "reassign", "cancel", "suspension"]))
    def supervisor_acts(self, pick, who, action):
        ticket = self.ticket_in(pick, list(S.values))
        agent = self.agent(who)
        if action == "suspension":
            if agent.status == Agent.Status.ACTIVE:
                agent_suspend(agent=agent, actor=self.supervisor, reason="complaints")
            else:
                agent_reinstate(agent=agent, actor=self.supervisor, reason="cleared")
        elif ticket is None:
            return
        elif action == "requeue":
            call = lambda: supervision.ticket_requeue(ticket_id=ticket.pk, actor=self.supervisor, reason="stuck")  # noqa: E731
            if ticket.status != S.ASSIGNED:
                self.expect_refusal(call)
                return
            call()
            ticket.refresh_from_db()
            assert (ticket.status, ticket.assigned_agent_id) == (S.QUEUED, None)
        elif action == "reassign":
            eligible = (
                ticket.status in OPEN
                and agent.active_tickets < agent.max_concurrent
                and agent in _free_and_eligible(ticket, offer_pending_too=True)
                and not (ticket.status == S.ASSIGNED and ticket.assigned_agent_id == agent.pk)
            )
            call = lambda: supervision.ticket_reassign(  # noqa: E731
                ticket_id=ticket.pk, agent_id=agent.pk, actor=self.supervisor, reason="needs them"
            )
            if not eligible:
                self.expect_refusal(call)
                return
            call()
            ticket.refresh_from_db()
            assert (ticket.status, ticket.assigned_agent_id) == (S.ASSIGNED, agent.pk)
        elif ticket.status in OPEN:
            supervision.ticket_cancel_by_supervisor(ticket_id=ticket.pk, actor=self.supervisor, reason="duplicate")
        else:
            self.expect_refusal(
                lambda: supervision.ticket_cancel_by_supervisor(
                    ticket_id=ticket.pk, actor=self.supervisor, reason="duplicate"
                )
            )
        self.system_reacts()

    @rule(fanout=st.integers(1, 3), wrap_up=st.sampled_from([0, 30]), missed=st.sampled_from([0, 2]))
    def policy_changes(self, fanout, wrap_up, missed):
        set_policy(offer_fanout=fanout, wrap_up_seconds=wrap_up, max_missed_offers_in_row=missed)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def one_holder_per_ticket(self):
        holders: dict = {}
        for ticket_id, agent_id, ended_at in Assignment.objects.filter(released_at__isnull=True).values_list(
            "ticket_id", "agent_id", "ended_at"
        ):
            assert ticket_id not in holders, f"ticket {ticket_id} held by {holders[ticket_id]} and {agent_id}"
            holders[ticket_id] = (agent_id, ended_at)
        for ticket in Ticket.objects.all():
            if ticket.status == S.ASSIGNED:
                assert holders.get(ticket.pk, (None, None)) == (ticket.assigned_agent_id, None)
            elif ticket.status in (S.QUEUED, S.OFFERED):
                assert ticket.pk not in holders

    @invariant()
    def capacity_matches_what_agents_hold(self):
        held = _held_by_agent()
        for agent in Agent.objects.all():
            count, holds = agent.active_tickets, held[agent.pk]
            assert count == holds, f"{agent} counts {count} tickets, holds {holds}"
            assert agent.active_tickets <= agent.max_concurrent

    @invariant()
    def pending_offers_agree(self):
        pending = Offer.objects.filter(status=OfferStatus.PENDING)
        by_agent = Counter(pending.values_list("agent_id", flat=True))
        by_ticket = set(pending.values_list("ticket_id", flat=True))
        for agent in Agent.objects.all():
            assert by_agent[agent.pk] <= 1
            assert agent.has_pending_offer == (by_agent[agent.pk] == 1), f"{agent}: flag {agent.has_pending_offer}"
        by_ticket = set(pending.filter(transfer__isnull=True).values_list("ticket_id", flat=True))
        for ticket in Ticket.objects.all():
            has_pending = ticket.pk in by_ticket
            assert has_pending == (ticket.status == S.OFFERED), f"{ticket.external_id} {ticket.status}, {has_pending}"
        for offer in pending.filter(transfer__isnull=False).select_related("transfer", "ticket"):
            assert offer.transfer.status == TransferStatus.PENDING, f"offer of a {offer.transfer.status} transfer"
            assert offer.ticket.status == S.ASSIGNED

    @invariant()
    def transfers_keep_the_sender_holding_until_accepted(self):
        pending = Transfer.objects.filter(status=TransferStatus.PENDING).select_related("ticket")
        assert len({t.ticket_id for t in pending}) == len(pending), "two pending transfers of one ticket"
        for transfer in pending:
            assert transfer.ticket.status == S.ASSIGNED
            assert transfer.ticket.assigned_agent_id == transfer.from_agent_id
        for transfer in Transfer.objects.filter(status=TransferStatus.ACCEPTED):
            ended = Assignment.objects.filter(
                ticket_id=transfer.ticket_id, agent_id=transfer.from_agent_id, end_reason="transferred"
            )
            assert AssignmentPartPay.objects.filter(assignment__in=ended).count() == ended.count()

    @invariant()
    def offers_are_answered_once(self):
        for pk, status in Offer.objects.exclude(status=OfferStatus.PENDING).values_list("pk", "status"):
            assert self.answered.setdefault(pk, status) == status, f"offer {pk} went {self.answered[pk]} -> {status}"

    @invariant()
    def no_pay_during_wrap_up_and_ledger_rows_never_change(self):
        assert not TicketPay.objects.filter(ticket__closed_at__isnull=True).exists()
        for row in PayLine.objects.values_list("pk", "agent_id", "ticket_id", "kind", "amount", "explanation"):
            assert self.ledger.setdefault(row[0], row) == row


@pytest.mark.django_db
def test_every_path_through_a_tickets_life_keeps_the_invariants():
    run_state_machine_as_test(
        TicketLifeModel,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=40,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
