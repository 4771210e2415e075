"""Pay explanations in the reader's language.

A pay line keeps the English explanation first written (the ledger's record, which the API shows) and
every input of its computation. The earnings page shows each agent the same explanation in their own
language, rebuilt here from those inputs with the numbers in their locale's format (12,40 in Swedish).
Kinds whose inputs do not carry enough to rebuild the sentence keep the recorded English text.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import formats, translation
from django.utils.translation import gettext as _

from payouts.models import PayLineKind

PAID_MINUTE = Decimal("0.01")


def _money(value) -> str:
    return formats.number_format(Decimal(value), decimal_pos=2, use_l10n=True)


def _minutes(value) -> str:
    """Minutes as paid (to the hundredth), as few places as they need: 7,5 · 1,03 · 12."""
    minutes = Decimal(value).quantize(PAID_MINUTE, rounding=ROUND_HALF_UP).normalize()
    places = max(0, -minutes.as_tuple().exponent)
    return formats.number_format(minutes, decimal_pos=places, use_l10n=True)


def _rate(value) -> str:
    rate = Decimal(value).normalize()
    places = max(2, -rate.as_tuple().exponent)
    return formats.number_format(rate, decimal_pos=places, use_l10n=True)


def _factor(value) -> str:
    factor = Decimal(value).normalize()
    return formats.number_format(factor, decimal_pos=max(0, -factor.as_tuple().exponent), use_l10n=True)


def _explain(line, inputs: dict) -> str | None:
    values = {"currency": line.currency, "amount": _money(line.amount)}
    kind = line.kind
    if kind == PayLineKind.BASE:
        values.update(version=inputs["rate_card_version"], total=_money(inputs["total"]))
        return (
            _(
                "Base pay %(amount)s %(currency)s (rate card v%(version)s). This ticket pays %(total)s %(currency)s "
                "in all."
            )
            % values
        )
    if kind == PayLineKind.TIME:
        values.update(
            minutes=_minutes(inputs["minutes"]),
            rate=_rate(inputs["rate_per_minute"]),
            engaged=_minutes(Decimal(inputs["engaged_seconds"]) / 60),
            after=_minutes(inputs["after_contact_minutes"]),
        )
        return (
            _(
                "%(minutes)s min at %(rate)s = %(amount)s %(currency)s (%(engaged)s min engaged + %(after)s min "
                "after-contact work)."
            )
            % values
        )
    if kind == PayLineKind.PREMIUM:
        return _("Premiums %(amount)s %(currency)s (skills, VIP or vulnerable customer).") % values
    if kind == PayLineKind.SURGE:
        values.update(surge=_factor(inputs["surge"]), labour=_money(Decimal(inputs["base"]) + Decimal(inputs["time"])))
        return (
            _("Surge ×%(surge)s on labour %(labour)s %(currency)s (base + time) adds %(amount)s %(currency)s.") % values
        )
    if kind == PayLineKind.FLOOR_TOPUP:
        values.update(estimate=_money(inputs["estimate"]), actual=_money(inputs["total"]))
        return (
            _(
                "The offer promised %(estimate)s %(currency)s; pay on actual time is %(actual)s %(currency)s, so "
                "%(amount)s %(currency)s tops it up to the promise."
            )
            % values
        )
    if kind == PayLineKind.TRANSFER_PART:
        values.update(
            minutes=_minutes(inputs["minutes"]), rate=_rate(inputs["rate_per_minute"]), time=_money(inputs["time"])
        )
        return (
            _(
                "Your part before you transferred the customer: %(minutes)s min engaged at %(rate)s = %(time)s "
                "%(currency)s; total %(amount)s %(currency)s. Each agent is paid for their own engaged time; the "
                "base and premiums go to the agent who finishes the ticket."
            )
            % values
        )
    return None


def pay_line_explanation(line, *, language: str | None = None) -> str:
    """`line`'s explanation in `language` (default: the active one). English is the recorded text."""
    language = language or translation.get_language() or "en"
    if language.split("-")[0] == "en":
        return line.explanation
    with translation.override(language):
        try:
            return _explain(line, line.inputs or {}) or line.explanation
        except (KeyError, TypeError, ValueError, InvalidOperation):
            return line.explanation  # an older line without these inputs: its recorded text
