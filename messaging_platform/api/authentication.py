"""Bearer authentication: API keys for the integrator API, session tokens for the UI API."""

from django.conf import settings
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

FAILED_BEARER_GROUP = "bearer-failures-address"


def _failed_bearer_usage(request, *, increment: bool) -> dict | None:
    return get_usage(getattr(request, "_request", request), group=FAILED_BEARER_GROUP, key="ip",
                     rate=settings.BEARER_FAILURE_RATE_PER_ADDRESS, method=ALL,
                     increment=increment)


def refuse_guessing(request) -> None:
    """429 once this client address has presented too many unknown tokens: keys and session
    tokens are long random secrets, so many misses from one address are a guessing attempt."""
    usage = _failed_bearer_usage(request, increment=False)
    if usage and usage["count"] >= usage["limit"]:
        raise Throttled(wait=max(1, usage["time_left"]),
                        detail="Too many invalid credentials from this address; try again later.")


def record_failed_bearer(request) -> None:
    _failed_bearer_usage(request, increment=True)


def bearer_token(request) -> str | None:
    header = get_authorization_header(request).split()
    if not header or header[0].lower() != b"bearer":
        return None
    if len(header) != 2:
        raise AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
    try:
        return header[1].decode()
    except UnicodeError as exc:
        raise AuthenticationFailed("Invalid Authorization header.") from exc


class _BearerAuthentication(BaseAuthentication):
    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return 'Bearer realm="api"'


class ApiKeyAuthentication(_BearerAuthentication):
    """request.user is None and request.auth the ApiKey: a key acts for its workspace, not a person."""

    def authenticate(self, request):
        raw = bearer_token(request)
        if raw is None:
            return None
        from workspaces.services import api_key_authenticate

        refuse_guessing(request)
        api_key = api_key_authenticate(raw)
        if api_key is None:
            record_failed_bearer(request)
            raise AuthenticationFailed("Invalid or revoked API key.")
        return (ApiKeyUser(api_key), api_key)


class SessionTokenAuthentication(_BearerAuthentication):
    def authenticate(self, request):
        raw = bearer_token(request)
        if raw is None:
            return None
        from accounts.services import session_token_authenticate

        refuse_guessing(request)
        session = session_token_authenticate(raw)
        if session is None:
            record_failed_bearer(request)
            raise AuthenticationFailed("Invalid or expired session token.")
        return (session.user, session)


class CookieSessionAuthentication(SessionAuthentication):
    """The browser UI's cookie session, with Django's CSRF check."""

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiKeyUser:
    """Stands in for request.user on integrator requests, so permission checks have a subject."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.pk = self.id = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}…"
