from payouts.services import rate_card_in_force


def seed_demo() -> None:
    """The default EUR rate card, so every offer has a pay estimate (idempotent)."""
    rate_card_in_force(currency="EUR")
