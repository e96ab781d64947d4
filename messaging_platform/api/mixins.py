"""Base classes for every API view: the integrator API (API keys) and the UI API (sessions)."""

from rest_framework.permissions import BasePermission

from .authentication import ApiKeyAuthentication, CookieSessionAuthentication, SessionTokenAuthentication
from .throttling import ApiKeyRateLimit, UserRateLimit, rate_limit_headers


class IsApiKey(BasePermission):
    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "api_key", None) is not None


class IsPerson(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "api_key", None) is None)


class RateLimitHeadersMixin:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in rate_limit_headers(request).items():
            response[name] = value
        return response


class IntegratorAPIMixin(RateLimitHeadersMixin):
    """`/api/…` for integrators: an API key, 100 requests a minute per key."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsApiKey]
    throttle_classes = [ApiKeyRateLimit]


class UIAPIMixin(RateLimitHeadersMixin):
    """`/api/ui/…` and `/api/auth/…`: a session token (or the browser's cookie session)."""

    authentication_classes = [SessionTokenAuthentication, CookieSessionAuthentication]
    permission_classes = [IsPerson]
    throttle_classes = [UserRateLimit]
