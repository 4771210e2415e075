"""Verbs about people that reach into other apps: pseudonymising a departed agent (their tickets, offers,
pay and webhooks hold copies of their name), suspending (their pending offers end), and presence changes
that open or close the agent to offers."""

import re
import uuid

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from agents.locks import agent_lock
from agents.models import Agent, AgentLanguage, AgentSkill, PersonToken, SuspensionAppeal, User
from agents.presence import presence_connect_many, presence_set
from core.audit import audit_record
from core.errors import DomainError, InvalidInput
from core.events import agent_group
from core.models import AuditEntry
from dispatch.models import Offer, OfferStatus, SupervisorAlert
from dispatch.services import agent_dispatch_on_commit
from payouts.models import PayLine, PayoutBatchStatus
from tickets.models import Message, Ticket, TicketStatus, WebhookDelivery
from tickets.webhooks import webhook_bodies_rewrite

PSEUDONYMISED_NOTE = "Pseudonymised: the agent has left."


def agent_pseudonymisation_blockers(*, agent: Agent) -> list[str]:
    """Why `agent` cannot be pseudonymised yet, in plain words; empty when nothing stands in the way.

    Open work must be finished or moved first, and money owed must be in an approved or paid payout
    batch: finance pays from the batch's snapshot of the payout details, which pseudonymisation clears
    from the profile. Lines in a draft batch are not paid yet, so they still block. An unpaid remainder
    that adds up to zero or less in its currency does not: there is nothing to pay.
    """
    blockers = []
    open_tickets = Ticket.objects.filter(assigned_agent=agent, status=TicketStatus.ASSIGNED).count()
    if open_tickets:
        blockers.append(f"{open_tickets} open ticket(s) are assigned to the agent; reassign or resolve them first.")
    pending_offers = Offer.objects.filter(agent=agent, status=OfferStatus.PENDING).count()
    if pending_offers:
        blockers.append(
            f"{pending_offers} offer(s) to the agent are still pending; suspend the agent and let them end."
        )
    unpaid = (
        PayLine.objects.filter(agent=agent)
        .exclude(payout__item__batch__status__in=[PayoutBatchStatus.APPROVED, PayoutBatchStatus.PAID])
        .values("currency")
        .annotate(total=Sum("amount"))
        .filter(total__gt=0)
        .order_by("currency")
    )
    owed = ", ".join(f"{row['total']:.2f} {row['currency']}" for row in unpaid)
    if owed:
        blockers.append(
            f"The agent is owed {owed} not yet in an approved or paid payout batch; finance must pay it first."
        )
    return blockers


def _revoke_sessions(user: User) -> int:
    from django.contrib.sessions.models import Session

    revoked = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            revoked.append(session.pk)
    Session.objects.filter(pk__in=revoked).delete()
    return len(revoked)


def _close_sockets_on_commit(agent: Agent) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    def close():
        # Handled by AgentConsumer.connection_close; a reconnect is then refused (the user is inactive).
        async_to_sync(get_channel_layer().group_send)(agent_group(agent.pk), {"type": "connection.close"})

    transaction.on_commit(close)


def _name_replacer(former_names, pseudonym: str):
    """A function replacing each former name, as a whole word in any letter case, by the pseudonym."""
    names = sorted({name.strip() for name in former_names if name and name.strip()}, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)", re.IGNORECASE)
    return lambda text: pattern.sub(pseudonym, text) if text else text


def _mentioning(field: str, former_names) -> Q:
    """Rows whose `field` contains one of the names: the database narrows, the replacer decides."""
    query = Q()
    for name in former_names:
        query |= Q(**{f"{field}__icontains": name})
    return query


def _rewrite_texts(model, rows, fields: list[str], replace) -> int:
    """Write back each row of `rows` whose text `fields` change under `replace`; JSON fields are walked."""
    changed = 0
    for row in rows.only("pk", *fields).iterator(chunk_size=500):
        values = {field: _replace_in(getattr(row, field), replace) for field in fields}
        values = {field: value for field, value in values.items() if value != getattr(row, field)}
        if values:
            model.objects.filter(pk=row.pk).update(**values)
            changed += 1
    return changed


def _replace_in(value, replace):
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, dict):
        return {key: _replace_in(item, replace) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_in(item, replace) for item in value]
    return value


def _former_names_rewrite(*, agent: Agent, former_names: list[str], pseudonym: str) -> dict[str, int]:
    """Replace the stored copies of the agent's former display name and username, outside the agent row,
    wherever the table may be rewritten: the bodies of their tickets' webhook deliveries (ticket.assigned
    names the agent; a reply or hand-back note may be signed), the texts written about or after their
    part in their tickets (messages after the bot's transcript, resolution notes, bot feedback, the CSAT
    comment), supervisors' alerts about them or their tickets, their offers' decline reasons and the
    reasons on their appeals. Returns how many rows of each kind changed.

    Left as they are: the bot's transcript and summary (written before the agent came; a customer who
    shares the name keeps it), decision records (ids only), the ledger and payout items (finance keeps
    them byte for byte) and the audit log (append-only; see agent_pseudonymise)."""
    replace = _name_replacer(former_names, pseudonym)
    # The tickets they held: each query on its own index, instead of one OR across joined tables.
    ticket_ids = sorted(
        str(pk)
        for pk in {
            *Ticket.objects.filter(assigned_agent=agent).values_list("pk", flat=True),
            *Offer.objects.filter(agent=agent, status=OfferStatus.ACCEPTED).values_list("ticket_id", flat=True),
            *Message.objects.filter(author_agent=agent).order_by().values_list("ticket_id", flat=True).distinct(),
            *(
                uuid.UUID(pk)
                for pk in AuditEntry.objects.filter(
                    action="ticket.reassigned", data__to_agent=str(agent.pk)
                ).values_list("subject_id", flat=True)
            ),
        }
    )
    rewritten = dict.fromkeys(["webhook_bodies", "messages", "tickets", "alerts"], 0)
    for start in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[start : start + 500]
        rewritten["webhook_bodies"] += webhook_bodies_rewrite(
            deliveries=WebhookDelivery.objects.filter(ticket_id__in=chunk).filter(_mentioning("body", former_names)),
            rewrite=replace,
        )
        messages = Message.objects.filter(ticket_id__in=chunk, seq__gt=F("ticket__handoff_transcript_length"))
        rewritten["messages"] += _rewrite_texts(
            Message, messages.filter(_mentioning("text", former_names)), ["text"], replace
        )
        texts = ["resolution_notes", "csat_comment", "bot_feedback"]
        mentioning = Q()
        for field in texts:
            mentioning |= _mentioning(field, former_names)
        rewritten["tickets"] += _rewrite_texts(
            Ticket, Ticket.objects.filter(pk__in=chunk).filter(mentioning), texts, replace
        )
        rewritten["alerts"] += _rewrite_texts(
            SupervisorAlert,
            SupervisorAlert.objects.filter(ticket_id__in=chunk).filter(_mentioning("message", former_names)),
            ["message"],
            replace,
        )
    rewritten["alerts"] += _rewrite_texts(
        SupervisorAlert,
        SupervisorAlert.objects.filter(agent=agent).filter(_mentioning("message", former_names)),
        ["message"],
        replace,
    )
    rewritten["offers"] = _rewrite_texts(
        Offer, Offer.objects.filter(agent=agent).exclude(decline_reason=""), ["decline_reason"], replace
    )
    rewritten["appeals"] = _rewrite_texts(
        SuspensionAppeal, agent.appeals.all(), ["suspension_reason", "decision_reason"], replace
    )
    return rewritten


@transaction.atomic(durable=True)
def agent_pseudonymise(*, agent: Agent, actor, reason: str) -> Agent:
    """Replace a departed agent's personal data for good, keeping what finance and the audit must keep.

    Replaced: display name, username, e-mail and names, the password (unusable), payout details on the
    profile, languages, skills, notification preferences, status and presence reasons, the text of their
    appeals; and, in the same transaction, every other stored copy of the former display name or
    username a table allows rewriting (_former_names_rewrite: webhook bodies, ticket texts, alerts,
    decline reasons, appeal reasons), so no page or API shows it any more. The account is deactivated,
    its tokens and sessions revoked and its sockets closed.
    Kept as they are: pay lines and ticket pay (append-only ledger), payout items with the name and IBAN
    snapshot a batch was built and exported with, the tickets and offers themselves, and the audit log:
    it is append-only, so entries written before (the username as the actor's label of what the agent
    did, the text of their appeal, a reassignment's target name) keep what they say; its writers store
    ids rather than names. Refused while the agent holds work or is owed money
    (agent_pseudonymisation_blockers). Recorded with who and why; irreversible.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": ["A reason is required: it is kept in the audit log."]})
    # Lock the agent's row: a concurrent accept (which updates this row) waits for us, then finds the
    # agent inactive and suspended; and two supervisors cannot both pseudonymise.
    locked = agent_lock(agent_id=agent.pk, related=("user",))
    if locked.pseudonymised_at is not None:
        raise DomainError("already_pseudonymised", "This agent was pseudonymised already.")
    blockers = agent_pseudonymisation_blockers(agent=locked)
    if blockers:
        raise DomainError("agent_has_open_obligations", "Cannot pseudonymise yet: " + " ".join(blockers))

    now = timezone.now()
    short_id = locked.pk.hex[:8]
    pseudonym = f"Former agent {short_id}"
    former_names = [locked.display_name, locked.user.username]
    username = f"departed-{short_id}"
    if User.objects.filter(username__iexact=username).exclude(pk=locked.user_id).exists():
        username = f"departed-{locked.pk.hex}"
    user = locked.user
    user.username = username
    user.first_name = user.last_name = user.email = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
    PersonToken.objects.filter(user=user).delete()
    sessions_revoked = _revoke_sessions(user)

    # Through presence_set, so online time and its records end here as for any agent going offline.
    presence_set(agent=locked, status=Agent.Presence.OFFLINE)
    AgentLanguage.objects.filter(agent=locked).delete()
    AgentSkill.objects.filter(agent=locked).delete()
    locked.appeals.update(text="[removed when the agent was pseudonymised]")
    Agent.objects.filter(pk=locked.pk).update(
        display_name=pseudonym,
        status=Agent.Status.SUSPENDED,
        status_reason=PSEUDONYMISED_NOTE,
        presence_reason="",
        has_pending_offer=False,
        payout_holder="",
        payout_iban="",
        payout_bic="",
        payout_street="",
        payout_postcode="",
        payout_town="",
        payout_country="",
        notification_preferences={},
        pseudonymised_at=now,
    )
    locked.refresh_from_db()
    rewritten = _former_names_rewrite(agent=locked, former_names=former_names, pseudonym=pseudonym)
    audit_record(
        actor=actor,
        action="agent.pseudonymised",
        subject=locked,
        reason=reason,
        # No former name here: the entry itself must not undo the pseudonymisation.
        data={
            "sessions_revoked": sessions_revoked,
            "pay_lines_kept": PayLine.objects.filter(agent=locked).count(),
            "payout_items_kept": locked.payout_items.count(),
            "rewritten": rewritten,
        },
    )
    _close_sockets_on_commit(locked)
    return locked


# ---------------------------------------------------------------- presence


@transaction.atomic(durable=True)
def presence_change(*, agent: Agent, status: str, reason: str = "", break_minutes: int | None = None) -> Agent:
    """The agent's own choice of presence (agents.presence.presence_set): online, away, a break (with a
    reason and a length), "no new work" (finish what they hold, no offers) or offline; going online
    opens them to offers, so dispatch looks for work for them after commit."""
    agent = presence_set(agent=agent, status=status, reason=reason, break_minutes=break_minutes)
    if agent.presence == Agent.Presence.ONLINE:
        agent_dispatch_on_commit(agent_id=agent.pk)
    return agent


@transaction.atomic(durable=True)
def sockets_opened(*, connections) -> dict:
    """More sockets of agents, (agent id, channel name) pairs (agents.presence.presence_connect_many: a
    reconnect storm's connects in a few statements); if any of them is online, dispatch looks for work
    (a reconnect after a blip may come with the queue waiting). Returns the agents' rows by id."""
    agents = presence_connect_many(connections=connections)
    if any(agent.presence == Agent.Presence.ONLINE for agent in agents.values()):
        agent_dispatch_on_commit(agent_id=None)
    return agents


def socket_opened(*, agent_id, channel_name: str) -> Agent:
    return sockets_opened(connections=[(agent_id, channel_name)])[agent_id]
