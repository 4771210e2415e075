"""Server-rendered pages: sign-in and a landing page per role."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from agents.lockout import LoginLocked, login_failure_record, login_lockout_check, login_success_record
from agents.models import Role
from config.ratelimit import RateLimited, client_address, rate_limit_check

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


class LoginForm(AuthenticationForm):
    """Django's sign-in form, refusing a locked-out username before its password is even checked."""

    refusal: RateLimited | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        if not username:
            return super().clean()
        try:
            login_lockout_check(username=username)
        except LoginLocked as locked:
            self._refuse(locked)
        try:
            cleaned = super().clean()
        except ValidationError as error:
            if error.code == "invalid_login":
                locked = login_failure_record(username=username)
                if locked is not None:
                    self._refuse(locked)
            raise
        login_success_record(username=username)
        return cleaned

    def _refuse(self, refusal: RateLimited):
        self.refusal = refusal
        raise ValidationError(refusal.message, code=refusal.code)


class LoginView(auth_views.LoginView):
    """The sign-in page. Too many attempts from one address, or a locked-out username -> 429 with the
    page saying when to try again (and Retry-After for scripts)."""

    template_name = "agents/login.html"
    form_class = LoginForm

    def post(self, request, *args, **kwargs):
        try:
            rate_limit_check(scope="login", identity=client_address(request))
        except RateLimited as limited:
            refusal = RateLimited(
                retry_after_seconds=limited.retry_after_seconds,
                message=f"Too many sign-in attempts from your address. Try again in {limited.retry_after_seconds} s.",
            )
            # An unbound form: a bound one would run authentication while the page renders.
            form = self.form_class(request, initial={"username": request.POST.get("username", "")})
            return self._refused(self.get_context_data(form=form), refusal)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if form.refusal is None:
            return super().form_invalid(form)
        return self._refused(self.get_context_data(form=form), form.refusal)

    def _refused(self, context, refusal: RateLimited):
        response = self.render_to_response({**context, "refusal": refusal.message}, status=refusal.http_status)
        response["Retry-After"] = str(refusal.retry_after_seconds)
        return response


@login_required
def home(request):
    target = ROLE_HOME.get(request.user.role)
    if target is None:
        raise PermissionDenied("This account has no role with pages.")
    return redirect(target)


@role_required(Role.FINANCE)
def finance_home(request):
    return render(request, "agents/finance_home.html")
