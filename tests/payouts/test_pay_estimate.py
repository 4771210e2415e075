from decimal import Decimal

import pytest

from payouts.models import RateCard
from payouts.services import pay_estimate
from tests.factories import TicketFactory
from tests.payouts.factories import RateCardFactory

pytestmark = pytest.mark.django_db


def test_without_a_rate_card_the_default_is_created_and_used():
    ticket = TicketFactory()
    estimate = pay_estimate(ticket=ticket, surge=Decimal("1.00"))
    card = RateCard.objects.get()
    assert estimate.currency == "EUR"
    assert estimate.detail["rate_card_version"] == card.version
    assert isinstance(estimate.amount, Decimal) and estimate.amount > 0
    # A second call reuses the card.
    pay_estimate(ticket=ticket, surge=Decimal("1.00"))
    assert RateCard.objects.count() == 1


def test_estimate_from_the_card_in_force_with_surge_on_labour_only():
    RateCardFactory()
    ticket = TicketFactory(customer_tier="vip", skills={"payments": 3})
    estimate = pay_estimate(ticket=ticket, surge=Decimal("1.5"))
    # base 2.00 + 8 min x 0.30 = 2.40 -> labour 4.40; surge 0.5 x 4.40 = 2.20; premiums 0.30 + 0.50 = 7.40
    assert estimate.amount == Decimal("7.40")
    assert estimate.detail["surge_amount"] == "2.20"
    assert estimate.detail["premium"] == "0.80"
    assert all(not isinstance(v, float) for v in estimate.detail.values())


def test_estimate_costs_two_queries_whatever_the_skills(django_assert_num_queries):
    RateCardFactory()
    ticket = TicketFactory(skills={"payments": 3, "refunds": 2, "fraud": 1})
    with django_assert_num_queries(2):  # the card in force, the ticket's skills
        estimate = pay_estimate(ticket=ticket, surge=Decimal("1"))
    assert estimate.detail["skills"] == {"fraud": 1, "payments": 3, "refunds": 2}
