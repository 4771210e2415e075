"""Money as every page writes it: the amount in the reader's locale (grouping and decimal sign) and the
currency code after it, e.g. "1,234.80 EUR" in English, "1.234,80 EUR" in German, "1 234,80 EUR" in
Swedish. One format per locale, on every page of every role."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.simple_tag
def money(amount, currency: str = "") -> str:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, TypeError, ValueError):
        return "–"
    text = number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)
    return f"{text}\u00a0{currency}" if currency else text
