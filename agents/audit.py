from agents.models import AuditEntry


def audit_record(*, actor, action: str, subject, reason: str = "", data: dict | None = None) -> AuditEntry:
    """Append one entry to the audit log. `actor` is a User or None for the system itself."""
    return AuditEntry.objects.create(
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "system",
        action=action,
        subject_type=subject._meta.model_name,
        subject_id=str(subject.pk),
        reason=reason,
        data=data or {},
    )
