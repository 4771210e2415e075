"""Finance pages: batches (list, create, review, approve, mark paid, download), adjustments, rate cards.
Thin: a form in, one service call, a message out."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from actions.rules import rate_card_change
from agents.models import Role
from agents.permissions import role_required
from core.errors import DomainError
from core.timezones import in_viewer_timezone
from finance.forms import AdjustmentForm, BatchCreateForm, RateCardForm
from payouts import batches, exports, selectors, services
from payouts.models import PayLineKind


def _refused(request, error: DomainError) -> None:
    detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in (error.fields or {}).items())
    messages.error(request, f"{error.message} {detail}".strip())


@in_viewer_timezone
@role_required(Role.FINANCE)
def home(request):
    return render(request, "finance/home.html")


@in_viewer_timezone
@role_required(Role.FINANCE)
def batch_list(request):
    form = BatchCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = batches.payout_batch_create(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            _refused(request, error)
        else:
            messages.success(request, f"Draft batch built: {batch.item_count} payable, {batch.held_count} held.")
            return redirect("payouts-batch", batch_id=batch.pk)
    return render(request, "finance/batch_list.html", {"form": form, "batches": selectors.payout_batch_list()[:200]})


@in_viewer_timezone
@role_required(Role.FINANCE)
def batch_detail(request, batch_id):
    batch = selectors.payout_batch_get(batch_id=batch_id)
    if batch is None:
        raise Http404("No such batch.")
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "approve":
                batches.payout_batch_approve(actor=request.user, batch_id=batch.pk)
                messages.success(request, "Batch approved.")
            elif action == "mark_paid":
                batches.payout_batch_mark_paid(actor=request.user, batch_id=batch.pk)
                messages.success(request, "Batch marked paid.")
        except DomainError as error:
            _refused(request, error)
        return redirect("payouts-batch", batch_id=batch.pk)
    items = selectors.payout_item_list(batch=batch)
    return render(
        request,
        "finance/batch_detail.html",
        {
            "batch": batch,
            "items": items[:2000],
            "held": items.filter(status="held"),
            "can_approve": batch.status == "draft" and batch.created_by_id != request.user.pk,
            # Why the SEPA downloads would be refused, shown instead of them (the CSV needs no debtor).
            "sepa_refusal": exports.debtor_refusal() if batch.currency == "EUR" else None,
        },
    )


@in_viewer_timezone
@role_required(Role.FINANCE)
def adjustments(request):
    form = AdjustmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        agent, ticket = data.pop("agent"), data.pop("ticket")
        try:
            line = services.pay_adjustment_create(actor=request.user, agent=agent, ticket=ticket, **data)
        except DomainError as error:
            _refused(request, error)
        else:
            messages.success(request, f"Adjustment written: {line.amount} {line.currency}.")
            return redirect("payouts-adjustments")
    recent = selectors.pay_line_list().filter(kind=PayLineKind.ADJUSTMENT).select_related("agent")[:100]
    return render(request, "finance/adjustments.html", {"form": form, "lines": recent})


@role_required(Role.FINANCE)  # in UTC: its form's "in force from" is a UTC time
def rate_cards(request):
    current = services.rate_card_in_force()
    initial = {name: getattr(current, name) for name in services.RATE_CARD_FIELDS if name in RateCardForm.base_fields}
    initial.update({f"base_{k}": v for k, v in (current.base_by_reason or {}).items()})
    initial.update({"currency": current.currency, "effective_from": timezone.now().replace(second=0, microsecond=0)})
    form = RateCardForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            card = rate_card_change(actor=request.user, **form.rate_card_values())
        except DomainError as error:
            _refused(request, error)
        else:
            messages.success(request, f"Rate card v{card.version} saved.")
            return redirect("payouts-rate-cards")
    return render(
        request, "finance/rate_cards.html", {"form": form, "current": current, "cards": selectors.rate_card_list()}
    )
