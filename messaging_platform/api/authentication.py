"""Bearer authentication: API keys for the integrator API, session tokens for the UI API."""

import re
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from .throttling import client_ip

_RATE = re.compile(r"^(\d+)/(\d*)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _failure_window(request) -> tuple[str, int, int]:
    """(cache key, limit, seconds left) of this address's current fixed window of failures."""
    count, multiple, unit = _RATE.match(settings.BEARER_FAILURE_RATE_PER_ADDRESS).groups()
    period = int(multiple or 1) * _UNIT_SECONDS[unit]
    window = int(time.time()) // period
    key = f"bearer-failures:{client_ip(getattr(request, '_request', request))}:{window}"
    return key, int(count), period - int(time.time()) % period


def refuse_guessing(request) -> None:
    """429 when this client address has already presented too many unknown tokens: keys and
    session tokens are long random secrets, so many misses from one address are a guessing
    attempt. Called only after a credential failed to authenticate, so a good client behind the
    same address (a shared NAT, one misconfigured neighbour) is never locked out."""
    key, limit, left = _failure_window(request)
    if (cache.get(key) or 0) >= limit:
        raise Throttled(wait=max(1, left),
                        detail="Too many invalid credentials from this address; try again later.")


def record_failed_bearer(request) -> None:
    key, _, left = _failure_window(request)
    if not cache.add(key, 1, left + 5):
        try:
            cache.incr(key)
        except ValueError:  # expired in between
            cache.add(key, 1, left + 5)


def refuse_unknown_bearer(request, detail: str):
    """The answer to a credential that matched nothing: 429 once the address is over its limit,
    else a 401 counted against the address."""
    refuse_guessing(request)
    record_failed_bearer(request)
    raise AuthenticationFailed(detail)


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

        # Looked up (by hash) before the address's failure count is read: a valid key always works.
        api_key = api_key_authenticate(raw)
        if api_key is None:
            refuse_unknown_bearer(request, "Invalid or revoked API key.")
        return (ApiKeyUser(api_key), api_key)


class SessionTokenAuthentication(_BearerAuthentication):
    def authenticate(self, request):
        raw = bearer_token(request)
        if raw is None:
            return None
        from accounts.services import session_token_authenticate
        from workspaces.services import API_KEY_PREFIX

        if raw.startswith(API_KEY_PREFIX):
            # Counted like any unknown token: this path never checks whether the key is real.
            refuse_unknown_bearer(request, "This is an API key, and /api/ui/ takes a session token "
                                           "(POST /api/auth/login). API keys work on the integrator "
                                           "API: /api/messages and the rest of docs/api.md.")
        session = session_token_authenticate(raw)
        if session is None:
            refuse_unknown_bearer(request, "Invalid or expired session token.")
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
