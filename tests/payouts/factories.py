"""Factories of the payouts tests (tests/factories.py belongs to the foundation)."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from payouts.models import PayLine, PayLineKind, RateCard
from tests.factories import AgentFactory, TicketFactory, record_holding


class RateCardFactory(factory.django.DjangoModelFactory):
    """The worked examples' card: base 2.00, 0.30 per minute, 1 min allowance (cap 3), 8 min expected."""

    class Meta:
        model = RateCard

    version = factory.Sequence(lambda n: n + 1)
    currency = "EUR"
    effective_from = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    base_amount = Decimal("2.00")
    rate_per_minute = Decimal("0.30")
    skill_level_premium = Decimal("0.10")
    vip_premium = Decimal("0.50")
    vulnerable_premium = Decimal("0.75")
    quality_bonus = Decimal("0.50")
    after_contact_allowance_minutes = Decimal("0.00")
    after_contact_cap_minutes = Decimal("3.00")
    expected_handle_minutes = Decimal("8.00")


class PayLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PayLine

    agent = factory.SubFactory(AgentFactory)
    kind = PayLineKind.ADJUSTMENT
    amount = Decimal("1.00")
    currency = "EUR"
    explanation = "test line"
    reason = "test"
    created_at = factory.LazyFunction(timezone.now)


def finished_ticket(*, agent=None, minutes: float = 7.5, status: str = "resolved", ended=None, **kwargs):
    """A ticket `agent` handled for `minutes`, ended at `ended` (default now)."""
    from tickets.models import Ticket

    agent = agent or AgentFactory()
    ticket = TicketFactory(**kwargs)
    ended = ended or timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(
        status=status,
        assigned_agent=agent,
        assigned_at=ended - dt.timedelta(minutes=minutes),
        resolved_at=ended if status == "resolved" else None,
        closed_at=ended if status != "assigned" else None,
    )
    record_holding(ticket)
    ticket.refresh_from_db()
    return ticket


VALID_IBAN = "DE89370400440532013000"
VALID_BIC = "COBADEFFXXX"


def payable_agent(**kwargs):
    """An agent with valid payout details and a structured address."""
    defaults = {
        "payout_holder": "Anna Example",
        "payout_iban": VALID_IBAN,
        "payout_bic": VALID_BIC,
        "payout_street": "Hauptstr. 1",
        "payout_postcode": "10115",
        "payout_town": "Berlin",
        "payout_country": "DE",
    }
    return AgentFactory(**{**defaults, **kwargs})


def accepted_offer(*, ticket, surge="1.00", estimate="0.00", currency="EUR"):
    """The winning offer of `ticket` (as dispatch leaves it), with the estimate shown to the agent."""
    from dispatch.models import Offer, OfferStatus
    from dispatch.policy import policy_current

    offer = Offer.objects.create(
        ticket=ticket,
        agent=ticket.assigned_agent,
        status=OfferStatus.ACCEPTED,
        created_at=ticket.assigned_at,
        expires_at=ticket.assigned_at + dt.timedelta(seconds=20),
        answered_at=ticket.assigned_at,
        surge=Decimal(surge),
        pay_estimate_amount=Decimal(estimate),
        pay_estimate_currency=currency,
        policy=policy_current(),
    )
    ticket.assignments.filter(agent=ticket.assigned_agent).update(
        offer_id=offer.pk,
        pay_surge=offer.surge,
        pay_estimate_amount=offer.pay_estimate_amount,
        pay_estimate_currency=offer.pay_estimate_currency,
    )
    return offer


def line(*, agent, amount, kind=PayLineKind.ADJUSTMENT, currency="EUR", created_at=None):
    return PayLine.objects.create(
        agent=agent,
        kind=kind,
        amount=Decimal(amount),
        currency=currency,
        explanation="test line",
        reason="test",
        created_at=created_at or timezone.now(),
    )
