"""OpenAPI: our authentication schemes, and every operation's error answers in one format."""

import inspect

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter


def for_surface(surface: str, **schema):
    """What a handler's operation says on one surface (`operation_id`, `summary`, `responses`),
    for a view routed under both APIs (workspaces.scoping.WorkspaceAPIMixin)."""

    def decorate(handler):
        handler.surface_schema = {**getattr(handler, "surface_schema", {}), surface: schema}
        return handler

    return decorate


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, plus the Idempotency-Key header on idempotent handlers, what `for_surface`
    says on the view's surface, and without descriptions inherited from our base classes'
    docstrings (those describe the code)."""

    def _handler(self):
        return getattr(self.view, getattr(self.view, "action", self.method.lower()), None)

    def _on_surface(self, key: str):
        by_surface = getattr(self._handler(), "surface_schema", {})
        return by_surface.get(getattr(self.view, "surface", None), {}).get(key)

    def get_operation_id(self) -> str:
        return self._on_surface("operation_id") or super().get_operation_id()

    def get_summary(self):
        return self._on_surface("summary") or super().get_summary()

    def get_response_serializers(self):
        responses = self._on_surface("responses")
        return responses if responses is not None else super().get_response_serializers()

    def get_description(self) -> str:
        handler_doc = inspect.getdoc(self._handler()) or ""
        return handler_doc or (self.view.__class__.__dict__.get("__doc__") or "").strip()

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if getattr(self._handler(), "idempotent", False):
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Retry safely: the same key and body within 24 hours replay the first "
                    "answer (with `Idempotent-Replayed: true`); another body is a 409.",
                )
            )
        return parameters


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "workspaces.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key of the workspace (`mp_live_…`), for the integrator API.",
        }


class SessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionTokenAuthentication"
    name = "sessionToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A session token (`mp_sess_…`) from /api/auth/login, for the UI API.",
        }


class CookieSessionScheme(OpenApiAuthenticationExtension):
    target_class = "messaging_platform.api.authentication.CookieSessionAuthentication"
    name = "cookieSession"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The browser UI's cookie session (with a CSRF token).",
        }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "example": "invalid_params"},
        "detail": {"type": "string"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

_COMMON = {
    "400": "Invalid or missing parameters (missing_params, invalid_params, …)",
    "401": "Missing, invalid, expired or revoked credentials (unauthorized)",
    "403": "Not allowed for your role (forbidden)",
    "404": "Not found, or not in your workspace (not_found)",
    "405": "Method not allowed",
    "409": "Conflict (idempotency_conflict, …)",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "429": "Rate limited (rate_limited, with Retry-After)",
    "500": "Unexpected error (internal_error)",
    "503": "A backing service is unavailable (service_unavailable)",
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in _COMMON.items():
                operation["responses"].setdefault(
                    code,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
