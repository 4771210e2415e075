"""The only place the payouts app takes row locks: in pk order, evaluated, of the rows themselves."""

from payouts.models import RateCard


def rate_cards_of_currency(*, currency: str) -> list[RateCard]:
    """Lock every card of `currency` so two finance users cannot add overlapping versions at once."""
    return list(RateCard.objects.select_for_update(of=("self",)).filter(currency=currency).order_by("pk"))
