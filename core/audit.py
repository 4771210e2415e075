from core.models import AuditEntry


def audit_record(*, actor, action: str, subject, reason: str = "", data: dict | None = None) -> AuditEntry:
    """Append one entry to the audit log. `actor` is a User or None for the system itself.

    A person is referred to by the link to their user only, never by a copy of their name: the log is
    append-only, and a pseudonymised person must leave no name behind in it (audit_actor_name reads
    the name at display time)."""
    return AuditEntry.objects.create(
        actor=actor,
        actor_label="" if actor is not None else "system",
        action=action,
        subject_type=subject._meta.model_name,
        subject_id=str(subject.pk),
        reason=reason,
        data=data or {},
    )


def audit_actor_name(entry: AuditEntry) -> str:
    """Who made the decision, as shown: the user's current username (pseudonymised with the person),
    or the label of an entry written by the system or before names stopped being copied."""
    if entry.actor_id is not None and entry.actor is not None:
        return entry.actor.get_username()
    return entry.actor_label
