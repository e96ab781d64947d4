"""`?page=1&limit=50` pagination with the documented envelope."""

import math

from django.conf import settings
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from messaging_platform.errors import invalid_params

MAX_LIMIT = 100


def _positive_int(request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_params(f"{name} must be a whole number.", {name: ["Must be a whole number."]})
    if value < 1 or (maximum is not None and value > maximum):
        bound = f"between 1 and {maximum}" if maximum else "at least 1"
        raise invalid_params(f"{name} must be {bound}.", {name: [f"Must be {bound}."]})
    return value


class PagePagination(BasePagination):
    page_query_param = "page"
    limit_query_param = "limit"

    def paginate_queryset(self, queryset, request, view=None):
        self.page = _positive_int(request, "page", 1, maximum=10**9)
        self.limit = _positive_int(request, "limit", settings.REST_FRAMEWORK["PAGE_SIZE"], MAX_LIMIT)
        start = (self.page - 1) * self.limit
        # Exact, but for a list counted only so far past this page (messaging.list_counts.bounded).
        through = getattr(queryset, "count_through", None)
        self.total = through(start + self.limit) if through is not None else queryset.count()
        # A page past the end is an empty page, not an error.
        return list(queryset[start : start + self.limit]) if start < self.total else []

    def envelope(self, data) -> dict:
        total_pages = math.ceil(self.total / self.limit) if self.total else 0
        return {
            "data": data,
            "pagination": {
                "currentPage": self.page,
                "totalPages": total_pages,
                "totalItems": self.total,
                "hasNext": self.page < total_pages,
            },
        }

    def get_paginated_response(self, data) -> Response:
        return Response(self.envelope(data))

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["data", "pagination"],
            "properties": {
                "data": schema,
                "pagination": {
                    "type": "object",
                    "required": ["currentPage", "totalPages", "totalItems", "hasNext"],
                    "properties": {
                        "currentPage": {"type": "integer"},
                        "totalPages": {"type": "integer"},
                        "totalItems": {"type": "integer"},
                        "hasNext": {"type": "boolean"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "default": 1},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
            },
        ]
