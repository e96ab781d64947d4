"""The server-rendered sign-up, login and logout pages (Django's cookie session)."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from workspaces.selectors import workspaces_for_user

from . import services
from .forms import LoginForm, SignupForm

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


def _next_url(request) -> str | None:
    """Where to go after signing up or in (an invitation's page), if it is one of ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return None


def signup(request):
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    initial = {"email": request.GET.get("email", "")[:254]}
    form = SignupForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        user = services.user_signup(**form.cleaned_data)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "home")
    return render(request, "accounts/signup.html", {"form": form, "next": next_url or ""})


@login_required
def home(request):
    return render(request, "home.html", {"workspaces": workspaces_for_user(user=request.user)})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, with the link built like every emailed link: from PUBLIC_BASE_URL."""

    def get_context_data(self, **kwargs):
        self.extra_email_context = {"base_url": settings.PUBLIC_BASE_URL.rstrip("/")}
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        # Limited per address and per client like failed logins; the same answer for an address
        # with or without an account.
        retry_after = services.password_reset_retry_after(request=self.request,
                                                          email=form.cleaned_data["email"])
        if retry_after is not None:
            minutes = max(1, round(retry_after / 60))
            form.add_error(None, f"Too many password-reset requests; try again in {minutes} "
                                 f"minute{'s' if minutes != 1 else ''}.")
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
            return response
        self.extra_email_context = {"base_url": settings.PUBLIC_BASE_URL.rstrip("/")}
        try:
            return super().form_valid(form)
        except Exception:
            # Said nowhere on the page (it would tell whether the account exists); logged for operators.
            logger.exception("Could not send a password-reset email")
            return redirect(self.get_success_url())


@login_required
def account(request):
    """The account page: change the password, log out everywhere."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and "everywhere" in request.POST:
        ended = services.sessions_end_everywhere(user=request.user)
        logout(request)
        messages.success(request, f"You were logged out everywhere ({ended} API session "
                                  f"token{'s' if ended != 1 else ''} ended). Log in again.")
        return redirect("login")
    if request.method == "POST" and form.is_valid():
        user = form.save()  # ends every API session token (accounts.models.User.save)
        update_session_auth_hash(request, user)  # this browser stays logged in; others are out
        messages.success(request, "Password changed. Other browsers and API session tokens were logged out.")
        return redirect("account")
    return render(request, "accounts/account.html", {
        "form": form, "my_workspaces": workspaces_for_user(user=request.user),
        "token_count": request.user.session_tokens.count()},
        status=400 if request.method == "POST" else 200)
