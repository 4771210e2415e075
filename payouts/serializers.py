from decimal import Decimal

from rest_framework import serializers

from core.query import StrictDateField
from core.rest import StrictSerializer


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def pay_line_payload(line) -> dict:
    return {
        "id": str(line.pk),
        "agent": str(line.agent_id),
        "ticket": str(line.ticket_id) if line.ticket_id else None,
        "kind": line.kind,
        "amount": money(line.amount),
        "currency": line.currency,
        "explanation": line.explanation,
        "created_at": line.created_at.isoformat(),
    }


def shift_guarantee_close_payload(close) -> dict:
    return {
        "shift": str(close.shift_id),
        "booking": str(close.booking_id),
        "agent": str(close.agent_id),
        "window_start": close.window_start.isoformat(),
        "window_end": close.window_end.isoformat(),
        "hourly_guarantee": money(close.hourly_guarantee),
        "online_hours": f"{close.online_hours:.2f}",
        "guarantee": money(close.guarantee_amount),
        "earnings": money(close.earnings),
        "topup": money(close.topup_amount),
        "currency": close.currency,
        "met": close.topup_amount == 0,
        "pay_line": str(close.pay_line_id) if close.pay_line_id else None,
        "explanation": close.explanation,
        "closed_at": close.closed_at.isoformat(),
    }


def payout_item_payload(item) -> dict:
    return {
        "id": str(item.pk),
        "agent": str(item.agent_id),
        "agent_name": item.agent_name,
        "status": item.status,
        "held_reason": item.held_reason or None,
        "amount": money(item.amount),
        "currency": item.currency,
        "line_count": item.line_count,
        "reference": item.reference,
    }


def payout_batch_payload(batch, *, items=None) -> dict:
    body = {
        "id": str(batch.pk),
        "status": batch.status,
        "period_start": batch.period_start.isoformat(),
        "period_end": batch.period_end.isoformat(),
        "currency": batch.currency,
        "total": money(batch.total_amount),
        "item_count": batch.item_count,
        "held_count": batch.held_count,
        "held_amount": money(batch.held_amount),
        "created_at": batch.created_at.isoformat(),
        "created_by": batch.created_by.get_username(),
        "approved_at": batch.approved_at.isoformat() if batch.approved_at else None,
        "approved_by": batch.approved_by.get_username() if batch.approved_by_id else None,
        "paid_at": batch.paid_at.isoformat() if batch.paid_at else None,
        "message_id": batch.message_id,
    }
    if items is not None:
        body["items"] = [payout_item_payload(item) for item in items]
        body["exports"] = [
            {"format": e.format, "sha256": e.sha256, "first_exported_at": e.first_exported_at.isoformat()}
            for e in batch.exports.all()
        ]
    return body


def rate_card_payload(card) -> dict:
    plain = {}
    for field in card._meta.concrete_fields:
        if field.name in ("id", "created_by"):
            continue
        value = getattr(card, field.name)
        if isinstance(value, Decimal):
            value = str(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        plain[field.name] = value
    plain["id"] = card.pk
    plain["created_by"] = card.created_by.get_username() if card.created_by_id else None
    return plain


class EarningsQuerySerializer(StrictSerializer):
    agent = serializers.UUIDField(required=False)
    from_ = StrictDateField(required=False)
    to = StrictDateField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = self.fields.pop("from_")


class ShiftGuaranteeQuerySerializer(StrictSerializer):
    agent = serializers.UUIDField(required=False)


class PayoutBatchCreateSerializer(StrictSerializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", default="EUR")


class PayAdjustmentSerializer(StrictSerializer):
    agent = serializers.UUIDField()
    ticket = serializers.UUIDField(required=False, allow_null=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", default="EUR")
    reason = serializers.CharField(max_length=2000, allow_blank=True)


def _decimal_map(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError("A JSON object of decimal strings.")
    cleaned = {}
    for key, amount in value.items():
        try:
            number = Decimal(str(amount))
        except ArithmeticError as exc:
            raise serializers.ValidationError(f"{key}: not a decimal.") from exc
        if not number.is_finite() or number < 0:
            raise serializers.ValidationError(f"{key}: must be a non-negative decimal.")
        cleaned[str(key)] = str(number)
    return cleaned


class RateCardSerializer(StrictSerializer):
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", default="EUR")
    effective_from = serializers.DateTimeField()
    effective_to = serializers.DateTimeField(required=False, allow_null=True)
    change_note = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")
    base_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False)
    base_by_reason = serializers.JSONField(required=False, validators=[_decimal_map])
    priority_premium = serializers.JSONField(required=False, validators=[_decimal_map])
    rate_per_minute = serializers.DecimalField(max_digits=10, decimal_places=4, min_value=Decimal("0"), required=False)
    skill_level_premium = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False
    )
    vip_premium = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False)
    vulnerable_premium = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False
    )
    quality_bonus = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False)
    quality_bonus_min_csat = serializers.IntegerField(min_value=1, max_value=5, required=False)
    after_contact_allowance_minutes = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal("0"), required=False
    )
    after_contact_cap_minutes = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal("0"), required=False
    )
    expected_handle_minutes = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal("0"), required=False
    )
    hourly_reference = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False)
    hourly_reference_by_country = serializers.JSONField(required=False, validators=[_decimal_map])
    floor_k = serializers.DecimalField(max_digits=5, decimal_places=3, min_value=Decimal("0"), required=False)
    floor_a = serializers.DecimalField(max_digits=5, decimal_places=3, min_value=Decimal("0"), required=False)
