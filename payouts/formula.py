"""The pay formula, as pure functions of a rate card and a ticket's facts (no database writes).

Labour = base + engaged time; surge multiplies labour only and is its own part. Premiums (skills,
VIP, vulnerable customer) are fixed add-ons and are not surged. Every amount is rounded half-up to
cents part by part, so the parts add up exactly to the total shown.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ONE = Decimal("1")


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(value: Decimal) -> str:
    """A factor as plain words show it: x1.3, x2."""
    return format(Decimal(value).normalize(), "f")


# Engaged time is paid to the hundredth of a minute, and shown the same way.
PAID_MINUTE = Decimal("0.01")


def money_rate(value: Decimal) -> str:
    """A rate with at least two places: 0.30, 0.125."""
    value = Decimal(value).normalize()
    return format(value.quantize(CENT) if value.as_tuple().exponent >= -2 else value, "f")


def minutes_text(minutes: Decimal) -> str:
    """Minutes as paid (to the hundredth), so "X min at R = Y" in an explanation adds up: 7.5, 1.03."""
    return format(Decimal(minutes).quantize(PAID_MINUTE, rounding=ROUND_HALF_UP).normalize(), "f")


@dataclass(frozen=True)
class TicketFacts:
    """What the formula needs from a ticket (so it can run on a Ticket or on stored inputs)."""

    reason: str
    priority: int
    customer_tier: str
    customer_vulnerable: bool
    skill_levels: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, ticket) -> "TicketFacts":
        if "required_skills" in getattr(ticket, "_prefetched_objects_cache", {}):
            rows = [(row.skill.code, row.min_level) for row in ticket.required_skills.all()]
        else:
            rows = ticket.required_skills.values_list("skill__code", "min_level")  # one query, no N+1
        levels = tuple(sorted((code, int(level)) for code, level in rows))
        return cls(
            reason=ticket.reason,
            priority=int(ticket.priority),
            customer_tier=ticket.customer_tier,
            customer_vulnerable=bool(ticket.customer_vulnerable),
            skill_levels=levels,
        )


@dataclass(frozen=True)
class PayParts:
    currency: str
    minutes: Decimal
    rate_per_minute: Decimal
    surge: Decimal
    base: Decimal
    time: Decimal
    premium: Decimal
    surge_amount: Decimal
    base_note: str
    premium_notes: tuple[str, ...] = field(default=())

    @property
    def labour(self) -> Decimal:
        return self.base + self.time

    @property
    def total(self) -> Decimal:
        return self.base + self.time + self.premium + self.surge_amount

    def as_detail(self) -> dict:
        return {
            "currency": self.currency,
            "minutes": str(self.minutes),
            "rate_per_minute": str(self.rate_per_minute),
            "surge": str(self.surge),
            "base": str(self.base),
            "time": str(self.time),
            "premium": str(self.premium),
            "surge_amount": str(self.surge_amount),
            "total": str(self.total),
        }


def base_for(card, facts: TicketFacts) -> tuple[Decimal, str]:
    by_reason = card.base_by_reason or {}
    base = Decimal(by_reason[facts.reason]) if facts.reason in by_reason else Decimal(card.base_amount)
    note = f"base for {facts.reason.replace('_', ' ')}" if facts.reason in by_reason else "base"
    extra = (card.priority_premium or {}).get(str(facts.priority))
    if extra is not None and Decimal(extra):
        base += Decimal(extra)
        note += f" incl. priority {facts.priority} premium {money(extra)}"
    return money(base), note


def premiums_for(card, facts: TicketFacts) -> tuple[Decimal, tuple[str, ...]]:
    parts: list[tuple[Decimal, str]] = []
    for code, level in facts.skill_levels:
        amount = money(Decimal(level) * card.skill_level_premium)
        if amount:
            parts.append((amount, f"{code} level {level} {amount}"))
    if facts.customer_tier == "vip" and card.vip_premium:
        parts.append((money(card.vip_premium), f"VIP customer {money(card.vip_premium)}"))
    if facts.customer_vulnerable and card.vulnerable_premium:
        parts.append((money(card.vulnerable_premium), f"vulnerable customer {money(card.vulnerable_premium)}"))
    return sum((amount for amount, _ in parts), Decimal("0.00")), tuple(note for _, note in parts)


def pay_parts(*, card, facts: TicketFacts, minutes: Decimal, surge: Decimal) -> PayParts:
    surge = Decimal(surge) if surge is not None else ONE
    if surge < ONE:
        surge = ONE  # surge never lowers pay
    base, base_note = base_for(card, facts)
    time = money(Decimal(minutes) * card.rate_per_minute)
    premium, premium_notes = premiums_for(card, facts)
    surge_amount = money((base + time) * (surge - ONE))
    return PayParts(
        currency=card.currency,
        minutes=Decimal(minutes),
        rate_per_minute=Decimal(card.rate_per_minute),
        surge=surge,
        base=base,
        time=time,
        premium=premium,
        surge_amount=surge_amount,
        base_note=base_note,
        premium_notes=premium_notes,
    )


def after_contact_minutes(*, card, measured_minutes: Decimal | None) -> Decimal:
    """At least the allowance, measured wrap-up beyond it, never above the cap."""
    minutes = max(Decimal(card.after_contact_allowance_minutes), Decimal(measured_minutes or 0))
    return min(minutes, Decimal(card.after_contact_cap_minutes))


def explain(parts: PayParts) -> str:
    """ "Base 2.00 EUR + 7.5 min at 0.30 = 2.25 EUR; surge x1.3 adds 1.28 EUR" """
    cur = parts.currency
    text = (
        f"{parts.base_note.capitalize()} {parts.base} {cur} + {minutes_text(parts.minutes)} min at "
        f"{money_rate(parts.rate_per_minute)} = {parts.time} {cur}"
    )
    if parts.premium:
        text += f"; premiums {parts.premium} {cur} ({', '.join(parts.premium_notes)})"
    if parts.surge_amount:
        text += f"; surge x{fmt(parts.surge)} adds {parts.surge_amount} {cur}"
    return text + f"; total {parts.total} {cur}"
