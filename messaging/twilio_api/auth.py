"""HTTP Basic as Twilio's SDKs send it: the account SID as the username, and an auth token (or an
API key) of that workspace as the password."""

from __future__ import annotations

import base64
import binascii

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from messaging_platform.api.authentication import record_failed_bearer, refuse_guessing
from messaging_platform.api.throttling import RateLimit
from workspaces.services import CompatCredential, compat_credentials_authenticate

from .errors import unauthorized


class CompatUser:
    """Stands in for request.user: the credential acts for its workspace, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    pk = id = None

    def __init__(self, credential: CompatCredential):
        self.credential = credential
        self.api_key = credential.api_key  # the same budget and bookkeeping as the key's own API


def _basic_credentials(request) -> tuple[str, str] | None:
    header = get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() != b"basic":
        return None
    try:
        username, sep, password = base64.b64decode(header[1], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return (username, password) if sep and username and password else None


class TwilioBasicAuthentication(BaseAuthentication):
    def authenticate(self, request):
        pair = _basic_credentials(request)
        if pair is None:
            raise unauthorized()
        credential = compat_credentials_authenticate(account_sid=pair[0], password=pair[1])
        if credential is None:
            # Many misses from one address are guessing: the same limit as Bearer credentials.
            refuse_guessing(request)
            record_failed_bearer(request)
            raise unauthorized()
        return (CompatUser(credential), credential)

    def authenticate_header(self, request) -> str:
        return 'Basic realm="Twilio API"'


class HasCompatCredential(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, CompatCredential)


class CompatRateLimit(RateLimit):
    """The integrator API's per-key budget: an API key used here shares its own budget."""

    group = "api-key"
    setting = "API_KEY_RATE_LIMIT"

    def key(self, request) -> str:
        return request.auth.pk
