"""The UI API's Bearer authentication: a session token, resolved to its person."""

from rest_framework.request import Request

from messaging_platform.api.authentication import (
    BearerAuthentication,
    CookieSessionAuthentication,
    bearer_token,
    refuse_unknown_bearer,
)
from messaging_platform.api.mixins import IsPerson, RateLimitHeadersMixin
from messaging_platform.api.throttling import UserRateLimit
from messaging_platform.tokens import API_KEY_PREFIX

from .models import SessionToken, User
from .services import session_token_authenticate


class SessionTokenAuthentication(BearerAuthentication):
    def authenticate(self, request: Request) -> tuple[User, SessionToken] | None:
        raw = bearer_token(request)
        if raw is None:
            return None
        if raw.startswith(API_KEY_PREFIX):
            # Counted like any unknown token: this path never checks whether the key is real.
            refuse_unknown_bearer(
                request,
                "This is an API key, and /api/ui/ takes a session token "
                "(POST /api/auth/login). API keys work on the integrator "
                "API: /api/messages and the rest of docs/api.md.",
            )
        session = session_token_authenticate(raw)
        if session is None:
            refuse_unknown_bearer(request, "Invalid or expired session token.")
        return (session.user, session)


class UIAPIMixin(RateLimitHeadersMixin):
    """`/api/ui/…` and `/api/auth/…`: a session token (or the browser's cookie session)."""

    authentication_classes = [SessionTokenAuthentication, CookieSessionAuthentication]
    permission_classes = [IsPerson]
    throttle_classes = [UserRateLimit]
