"""Assignments for tickets assigned before assignments existed, so the holder history, capacity and pay
read the same rows for old and new tickets. Tickets closed before wrap-up existed get no wrap-up."""

from django.db import migrations


def backfill(apps, schema_editor):
    Ticket = apps.get_model("tickets", "Ticket")
    Assignment = apps.get_model("tickets", "Assignment")
    Offer = apps.get_model("dispatch", "Offer")
    accepted = dict(Offer.objects.filter(status="accepted").values_list("ticket_id", "pk"))
    rows = []
    held = Ticket.objects.filter(assigned_agent__isnull=False, assigned_at__isnull=False).exclude(
        assignments__isnull=False
    )
    for ticket in held.iterator(chunk_size=2000):
        row = Assignment(
            ticket_id=ticket.pk,
            agent_id=ticket.assigned_agent_id,
            offer_id=accepted.get(ticket.pk),
            started_at=ticket.assigned_at,
        )
        if ticket.status != "assigned":
            ended = ticket.resolved_at or ticket.closed_at or ticket.assigned_at
            row.ended_at = max(ended, ticket.assigned_at)
            row.released_at = row.ended_at
            row.end_reason = ticket.status if ticket.status in ("resolved", "handed_back", "cancelled") else ""
        rows.append(row)
        if len(rows) >= 2000:
            Assignment.objects.bulk_create(rows)
            rows = []
    Assignment.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0005_assignment"),
        ("dispatch", "0003_offer_one_accept_per_round_policy_wrap_up"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
