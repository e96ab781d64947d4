"""The server-rendered sign-up, login, logout and password-reset pages (Django's cookie session).

The home and account pages show the person's workspaces, so they live in workspaces/views.py."""

import logging

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

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
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
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


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, with the link built like every emailed link: from PUBLIC_BASE_URL."""

    def get_context_data(self, **kwargs):
        self.extra_email_context = {"base_url": settings.PUBLIC_BASE_URL.rstrip("/")}
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        # Limited per address and per client like failed logins; the same answer for an address
        # with or without an account.
        retry_after = services.password_reset_retry_after(
            request=self.request, email=form.cleaned_data["email"]
        )
        if retry_after is not None:
            minutes = max(1, round(retry_after / 60))
            form.add_error(
                None,
                f"Too many password-reset requests; try again in {minutes} "
                f"minute{'s' if minutes != 1 else ''}.",
            )
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
