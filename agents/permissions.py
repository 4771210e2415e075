from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from agents.models import Role


class _HasRole(BasePermission):
    roles: tuple[str, ...] = ()
    message = "Your role may not do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.role in self.roles)


class IsSupervisor(_HasRole):
    roles = (Role.SUPERVISOR,)


class IsAgent(_HasRole):
    roles = (Role.AGENT,)


class IsFinance(_HasRole):
    roles = (Role.FINANCE,)


class IsIntegration(_HasRole):
    roles = (Role.INTEGRATION,)


class IsPerson(_HasRole):
    roles = (Role.AGENT, Role.SUPERVISOR, Role.FINANCE)


def role_permission(*roles: str) -> type[BasePermission]:
    """A permission class admitting any of `roles`, e.g. role_permission("agent", "finance")."""
    return type("HasRole_" + "_".join(roles), (_HasRole,), {"roles": tuple(roles)})


def role_required(role: str):
    """A page for one role: others are refused (403), anonymous visitors sent to sign in."""

    def decorator(view):
        @login_required
        def wrapped(request, *args, **kwargs):
            if request.user.role != role:
                raise PermissionDenied(f"This page is for the {role} role.")
            return view(request, *args, **kwargs)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorator
