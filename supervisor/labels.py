"""Words for the codes the supervisor's pages show: a status, a reason, a timeline entry. The codes stay in
the API and in data-* attributes; a person reads these labels, in their language."""

from django.utils.translation import gettext_lazy as _

NO_SKILL = "(none)"  # the board's key for tickets that need no particular skill

LABELS = {
    # tickets
    "queued": _("In the queue"),
    "offered": _("On offer"),
    "assigned": _("With an agent"),
    "resolved": _("Resolved"),
    "cancelled": _("Cancelled"),
    "handed_back": _("Handed back to the bot"),
    "open": _("Open (queued, on offer or with an agent)"),
    # why the bot escalated
    "customer_request": _("Customer asked for a person"),
    "negative_sentiment": _("Customer upset"),
    "complex_case": _("Complex case"),
    "sensitive": _("Sensitive matter"),
    "bot_low_confidence": _("Bot unsure"),
    "policy": _("Policy requires a person"),
    # customers
    "standard": _("Standard customer"),
    "vip": _("VIP customer"),
    # offers
    "pending": _("Pending"),
    "accepted": _("Accepted"),
    "declined": _("Declined"),
    "expired": _("Expired"),
    "withdrawn": _("Withdrawn"),
    "taken": _("taken by another agent"),
    "offer_accepted": _("Offer accepted"),
    "offer_declined": _("Offer declined"),
    "offer_expired": _("Offer expired"),
    "offer_withdrawn": _("Offer withdrawn"),
    "offer_pending": _("Offer open"),
    # agents
    "active": _("Active"),
    "suspended": _("Suspended"),
    "online": _("Online"),
    "away": _("Away"),
    "offline": _("Offline"),
    "busy": _("At capacity"),
    "available": _("Free"),
    "reinstated": _("Reinstated"),
    "upheld": _("Suspension upheld"),
    # timeline and audit
    "escalated": _("Escalated"),
    "message": _("Message"),
    "webhook": _("Webhook"),
    "csat": _("Customer rating"),
    "customer": _("Customer"),
    "bot": _("Bot"),
    "agent": _("Agent"),
    "system": _("System"),
    "delivered": _("Delivered"),
    "failed": _("Failed"),
    "skipped": _("Not sent"),
    "ticket.reassigned": _("Reassigned"),
    "ticket.requeued": _("Put back in the queue"),
    "ticket.cancelled": _("Cancelled by a supervisor"),
    "ticket.transferred": _("Transferred"),
    "webhook.redeliver": _("Webhook sent again"),
    "agent.suspended": _("Suspended"),
    "agent.reinstated": _("Reinstated"),
    "agent.approved": _("Approved"),
    "agent.updated": _("Profile changed"),
    "agent.appealed": _("Appealed"),
    "agent.payout_details_changed": _("Payout details changed"),
    "agent.pseudonymised": _("Pseudonymised"),
    "skill.certified": _("Skill level set"),
    # ranking components (policy weights)
    "skill_fit": _("Skill fit"),
    "quality": _("Quality"),
    "fairness": _("Fairness"),
    "shift": _("On a booked shift"),
    # languages
    "de": _("German"),
    "en": _("English"),
    "sv": _("Swedish"),
    NO_SKILL: _("No particular skill"),
}


# A timeline entry names what happened, where a status names where a ticket is.
EVENT_LABELS = {
    "offered": _("Offered"),
    "assigned": _("Assigned"),
    "resolved": _("Resolved"),
    "cancelled": _("Cancelled"),
    "handed_back": _("Handed back to the bot"),
}


def event_label(kind) -> str:
    found = EVENT_LABELS.get(str(kind))
    return str(found) if found is not None else human_label(kind)


def human_label(code) -> str:
    """The label of `code`, or the code made readable ('vulnerable_customers' -> 'Vulnerable customers')."""
    if code is None or code == "":
        return "–"
    found = LABELS.get(str(code))
    if found is not None:
        return str(found)
    return str(code).replace("_", " ").replace(".", ": ").capitalize()
