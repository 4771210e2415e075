from decimal import Decimal

from django import forms

from tickets.models import EscalationReason


class BatchCreateForm(forms.Form):
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", initial="EUR", max_length=3)


class AdjustmentForm(forms.Form):
    agent = forms.UUIDField(help_text="The agent's id (see the batch items or the earnings API).")
    ticket = forms.UUIDField(required=False)
    amount = forms.DecimalField(max_digits=12, decimal_places=2, help_text="Negative to take back an overpayment.")
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", initial="EUR", max_length=3)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


money = {"max_digits": 12, "decimal_places": 2, "min_value": Decimal("0")}


class RateCardForm(forms.Form):
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", initial="EUR", max_length=3)
    effective_from = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    change_note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    base_amount = forms.DecimalField(**money)
    rate_per_minute = forms.DecimalField(max_digits=10, decimal_places=4, min_value=Decimal("0"))
    skill_level_premium = forms.DecimalField(**money)
    vip_premium = forms.DecimalField(**money)
    vulnerable_premium = forms.DecimalField(**money)
    quality_bonus = forms.DecimalField(**money)
    after_contact_allowance_minutes = forms.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0"))
    after_contact_cap_minutes = forms.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0"))
    expected_handle_minutes = forms.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0"))
    hourly_reference = forms.DecimalField(**money)
    floor_k = forms.DecimalField(max_digits=5, decimal_places=3, min_value=Decimal("0"))
    floor_a = forms.DecimalField(max_digits=5, decimal_places=3, min_value=Decimal("0"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for reason in EscalationReason:
            self.fields[f"base_{reason.value}"] = forms.DecimalField(
                label=f"Base for {reason.label.lower()}", required=False, **money
            )

    def rate_card_values(self) -> dict:
        data = dict(self.cleaned_data)
        data["base_by_reason"] = {
            reason.value: str(data.pop(f"base_{reason.value}"))
            for reason in EscalationReason
            if data.get(f"base_{reason.value}") is not None
        }
        for reason in EscalationReason:
            data.pop(f"base_{reason.value}", None)
        return data
