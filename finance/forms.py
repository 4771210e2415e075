import uuid
from decimal import Decimal

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from agents.models import Agent
from tickets.models import EscalationReason, Ticket


class BatchCreateForm(forms.Form):
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", initial="EUR", max_length=3)


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, agent):
        return f"{agent.display_name} ({agent.user.username})"


class AdjustmentForm(forms.Form):
    agent = AgentChoiceField(
        queryset=Agent.objects.select_related("user").order_by("display_name"),
        label=_("Agent"),
        empty_label=_("Choose an agent…"),
        error_messages={"invalid_choice": _("No such agent.")},
    )
    ticket = forms.CharField(
        required=False,
        label=_("Ticket (optional)"),
        help_text=_("The ticket's id as the bot platform knows it (e.g. chat-8812), if the line is about one."),
    )
    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, label=_("Amount"), help_text=_("Negative to take back an overpayment.")
    )
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", initial="EUR", max_length=3, label=_("Currency"))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), label=_("Reason"), help_text=_("The agent reads this.")
    )

    def clean_ticket(self):
        reference = self.cleaned_data["ticket"].strip()
        if not reference:
            return None
        ticket = Ticket.objects.filter(external_id=reference).first()
        if ticket is None:
            try:
                ticket = Ticket.objects.filter(pk=uuid.UUID(reference)).first()
            except ValueError:  # not our id either
                ticket = None
        if ticket is None:
            raise forms.ValidationError(_("No ticket has this id."))
        return ticket


# Why the bot escalated, in words (the same words as on the supervisor's pages, so one translation).
REASON_LABELS = {
    "customer_request": _("Customer asked for a person"),
    "negative_sentiment": _("Customer upset"),
    "complex_case": _("Complex case"),
    "sensitive": _("Sensitive matter"),
    "bot_low_confidence": _("Bot unsure"),
    "policy": _("Policy requires a person"),
}

money = {"max_digits": 12, "decimal_places": 2, "min_value": Decimal("0")}


def _money_field(label, help_text, **limits):
    return forms.DecimalField(label=label, help_text=help_text, **{**money, **limits})


def _minutes_field(label, help_text):
    return forms.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0"), label=label, help_text=help_text)


class RateCardForm(forms.Form):
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", initial="EUR", max_length=3, label=_("Currency"))
    effective_from = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        label=_("In force from (UTC)"),
        help_text=_("The card in force now is closed at this moment."),
    )
    change_note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), label=_("Why this change"), help_text=_("Kept with the version.")
    )
    base_amount = _money_field(_("Base pay per ticket"), _("Paid for every resolved ticket."))
    rate_per_minute = forms.DecimalField(
        max_digits=10,
        decimal_places=4,
        min_value=Decimal("0"),
        label=_("Pay per engaged minute"),
        help_text=_("From accepting the ticket to resolving it, plus after-contact time."),
    )
    skill_level_premium = _money_field(_("Premium per required skill level"), _("Per level of each skill asked."))
    vip_premium = _money_field(_("VIP customer premium"), _("Added when the customer is a VIP."))
    vulnerable_premium = _money_field(_("Vulnerable customer premium"), _("Added when the customer is vulnerable."))
    quality_bonus = _money_field(_("Quality bonus"), _("Added when the customer's rating reaches the level below."))
    after_contact_allowance_minutes = _minutes_field(
        _("After-contact time always paid (minutes)"), _("Wrap-up minutes paid even if the agent closes at once.")
    )
    after_contact_cap_minutes = _minutes_field(
        _("After-contact time paid at most (minutes)"), _("Longer wrap-ups are paid up to this.")
    )
    expected_handle_minutes = _minutes_field(
        _("Minutes an offer's pay estimate assumes"),
        _("The estimate shown with an offer is a floor computed for this many minutes."),
    )
    hourly_reference = _money_field(
        _("Reference hourly pay (R)"), _("The hourly pay the weekly earnings floor is measured against.")
    )
    floor_k = forms.DecimalField(
        max_digits=5,
        decimal_places=3,
        min_value=Decimal("0"),
        label=_("Weekly floor: share of R per engaged hour"),
        help_text=_("1.000 guarantees the full reference pay for every hour spent on tickets."),
    )
    floor_a = forms.DecimalField(
        max_digits=5,
        decimal_places=3,
        min_value=Decimal("0"),
        label=_("Weekly floor: share of R per available hour"),
        help_text=_("For hours online without a ticket; 0 pays nothing for waiting."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for reason in EscalationReason:
            self.fields[f"base_{reason.value}"] = forms.DecimalField(
                label=format_lazy(
                    _("Base pay when the bot escalated for: {reason}"),
                    reason=REASON_LABELS.get(reason.value, reason.label),
                ),
                help_text=_("Leave empty to use the base pay above."),
                required=False,
                **money,
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
