"""Sign-up, login and session tokens for the UI API."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_ratelimit import ALL
from django_ratelimit.core import get_usage

from messaging_platform.errors import DomainError
from messaging_platform.tokens import generate_secret, hash_secret, record_use

from .models import SessionToken, User, normalize_email

SESSION_TOKEN_PREFIX = "mp_sess_"


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown to the client once
    session: SessionToken

    @property
    def expires_at(self) -> datetime:
        return self.session.expires_at


@transaction.atomic
def user_signup(*, email: str, password: str, name: str) -> User:
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise DomainError(
            "email_taken",
            "An account with this email already exists.",
            fields={"email": ["An account with this email already exists."]},
        )
    candidate = User(email=email, name=name)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise DomainError(
            "invalid_params", "password: " + exc.messages[0], fields={"password": exc.messages}
        ) from exc
    return User.objects.create_user(email=email, password=password, name=name)


def session_token_issue(*, user: User, user_agent: str = "") -> IssuedToken:
    raw = generate_secret(SESSION_TOKEN_PREFIX)
    session = SessionToken.objects.create(
        user=user,
        token_hash=hash_secret(raw),
        expires_at=timezone.now() + timedelta(hours=settings.SESSION_TOKEN_TTL_HOURS),
        user_agent=user_agent[:255],
    )
    return IssuedToken(token=raw, session=session)


def session_token_authenticate(raw: str) -> SessionToken | None:
    """The live session for a raw token, or None when it is unknown, expired or its user inactive."""
    if not raw.startswith(SESSION_TOKEN_PREFIX):
        return None
    session = SessionToken.objects.select_related("user").filter(token_hash=hash_secret(raw)).first()
    if session is None or session.is_expired or not session.user.is_active:
        return None
    record_use(session)
    return session


def session_token_revoke(*, session: SessionToken) -> None:
    SessionToken.objects.filter(pk=session.pk).delete()


def sessions_end_everywhere(*, user: User) -> int:
    """Log out everywhere: every API session token and every cookie session of the user end.
    Returns how many session tokens there were."""
    User.objects.filter(pk=user.pk).update(session_generation=models.F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    deleted, _ = SessionToken.objects.filter(user=user).delete()
    return deleted


def password_reset_retry_after(*, request: HttpRequest, email: str) -> int | None:
    """Count a password-reset request; seconds to wait when this address or this client has asked
    too often. Counted whether or not the account exists, so the answer reveals nothing."""
    limits = [
        (
            "password-reset-account",
            settings.PASSWORD_RESET_RATE_PER_ACCOUNT,
            lambda group, req: "account:" + normalize_email(email),
        ),
        ("password-reset-address", settings.PASSWORD_RESET_RATE_PER_ADDRESS, "ip"),
    ]
    wait = None
    for group, rate, key in limits:
        usage = get_usage(request, group=group, key=key, rate=rate, method=ALL, increment=True)
        if usage and usage["count"] > usage["limit"]:
            wait = max(wait or 0, max(1, usage["time_left"]))
    return wait


def _login_limits(request: HttpRequest, email: str) -> list[tuple[str, str, Callable[..., str] | str]]:
    account_key = lambda group, req: "account:" + email  # noqa: E731
    return [
        ("login-failures-account", settings.LOGIN_FAILURE_RATE_PER_ACCOUNT, account_key),
        ("login-failures-address", settings.LOGIN_FAILURE_RATE_PER_ADDRESS, "ip"),
    ]


def login_retry_after(*, request: HttpRequest, email: str) -> int | None:
    """Seconds to wait when this account or client address has failed too often, else None."""
    for group, rate, key in _login_limits(request, normalize_email(email)):
        usage = get_usage(request, group=group, key=key, rate=rate, method=ALL, increment=False)
        if usage and usage["count"] >= usage["limit"]:
            return max(1, usage["time_left"])
    return None


def login_failure_record(*, request: HttpRequest, email: str) -> None:
    for group, rate, key in _login_limits(request, normalize_email(email)):
        get_usage(request, group=group, key=key, rate=rate, method=ALL, increment=True)


def user_login(*, request: HttpRequest, email: str, password: str) -> User:
    """Check the credentials; failures are counted per account and per client address."""
    email = normalize_email(email)
    retry_after = login_retry_after(request=request, email=email)
    if retry_after is not None:
        raise DomainError("rate_limited", "Too many failed logins; try again later.", retry_after=retry_after)
    user = authenticate(request, email=email, password=password)
    if user is None:
        login_failure_record(request=request, email=email)
        raise DomainError("unauthorized", "Invalid email or password.")
    return user
