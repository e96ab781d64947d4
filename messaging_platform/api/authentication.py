"""Bearer authentication's shared part: the header, the count of unknown tokens per address, and
the browser's cookie session. Each kind of token is resolved beside its model: API keys in
workspaces/authentication.py, session tokens in accounts/authentication.py."""

import re
import time
from typing import Any, NoReturn

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
        raise Throttled(
            wait=max(1, left), detail="Too many invalid credentials from this address; try again later."
        )


def record_failed_bearer(request) -> None:
    key, _, left = _failure_window(request)
    if not cache.add(key, 1, left + 5):
        try:
            cache.incr(key)
        except ValueError:  # expired in between
            cache.add(key, 1, left + 5)


def refuse_unknown_bearer(request, detail: str) -> NoReturn:
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


class BearerAuthentication(BaseAuthentication):
    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return 'Bearer realm="api"'


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

    def __init__(self, api_key: Any) -> None:  # an ApiKey (workspaces, a layer above)
        self.api_key = api_key
        self.pk = self.id = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}…"
