"""Pages for every signed-in person: sign-in, a landing page per role, and the algorithm notice."""

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from actions import notice as notices
from agents.lockout import LoginLocked, login_failure_record, login_lockout_check, login_success_record
from agents.models import Role
from core.errors import DomainError
from core.ratelimit import RateLimited, client_address, rate_limit_check
from core.timezones import in_viewer_timezone

ROLE_HOME = {Role.AGENT: "agent-home", Role.SUPERVISOR: "supervisor-home", Role.FINANCE: "finance-home"}


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

    template_name = "accounts/login.html"
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


class NoticePublishForm(forms.Form):
    effective_from = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    changes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="What changed")


@in_viewer_timezone
@login_required
def algorithm_notice(request):
    """Readable by every person; agents viewing it is recorded (they were shown the version)."""
    if request.user.role not in (Role.AGENT, Role.SUPERVISOR, Role.FINANCE):
        raise PermissionDenied("This page is for people.")
    can_publish = request.user.role in (Role.SUPERVISOR, Role.FINANCE)
    form = NoticePublishForm(request.POST or None) if can_publish else None
    if request.method == "POST" and can_publish and form.is_valid():
        try:
            notice = notices.algorithm_notice_publish(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in (error.fields or {}).items())
            messages.error(request, f"{error.message} {detail}".strip())
        else:
            messages.success(request, f"Version {notice.version} published.")
            return redirect("algorithm-notice")
    current, upcoming = notices.algorithm_notice_current()
    if request.user.role == Role.AGENT:
        notices.algorithm_notice_seen(agent=request.user.agent, notices=[n for n in (current, upcoming) if n])
    return render(
        request,
        "accounts/algorithm_notice.html",
        {"current": current, "upcoming": upcoming, "form": form},
    )
