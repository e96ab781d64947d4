"""What every API view shares: who may call it (a key or a person) and the rate-limit headers. The
base classes that pick an authentication: IntegratorAPIMixin (workspaces/authentication.py) and
UIAPIMixin (accounts/authentication.py)."""

from rest_framework.permissions import BasePermission

from .throttling import rate_limit_headers


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
