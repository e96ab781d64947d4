"""The integrator API's Bearer authentication: an API key, resolved to its workspace."""

from rest_framework.request import Request

from messaging_platform.api.authentication import (
    ApiKeyUser,
    BearerAuthentication,
    bearer_token,
    refuse_unknown_bearer,
)
from messaging_platform.api.mixins import IsApiKey, RateLimitHeadersMixin
from messaging_platform.api.throttling import ApiKeyRateLimit

from .models import ApiKey
from .services import api_key_authenticate


class ApiKeyAuthentication(BearerAuthentication):
    """request.user is None and request.auth the ApiKey: a key acts for its workspace, not a person."""

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        raw = bearer_token(request)
        if raw is None:
            return None
        # Looked up (by hash) before the address's failure count is read: a valid key always works.
        api_key = api_key_authenticate(raw)
        if api_key is None:
            refuse_unknown_bearer(request, "Invalid or revoked API key.")
        return (ApiKeyUser(api_key), api_key)


class IntegratorAPIMixin(RateLimitHeadersMixin):
    """`/api/…` for integrators: an API key, 100 requests a minute per key."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsApiKey]
    throttle_classes = [ApiKeyRateLimit]
