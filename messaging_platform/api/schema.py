"""OpenAPI post-processing: every operation documents the error format it can answer with."""

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
