"""Server-rendered pages: sign-in and a landing page per role."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from agents.models import Role

ROLE_HOME = {Role.AGENT: "agent-home", Role.SUPERVISOR: "supervisor-home", Role.FINANCE: "finance-home"}


def role_required(role: str):
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


@login_required
def home(request):
    target = ROLE_HOME.get(request.user.role)
    if target is None:
        raise PermissionDenied("This account has no role with pages.")
    return redirect(target)


@role_required(Role.SUPERVISOR)
def supervisor_home(request):
    return render(request, "agents/supervisor_home.html")


@role_required(Role.FINANCE)
def finance_home(request):
    return render(request, "agents/finance_home.html")
