"""The one exception type the API raises for its own errors: a status, a code and a detail."""

from rest_framework.exceptions import APIException


class ApiError(APIException):
    def __init__(self, code: str, detail: str, *, status: int = 400, fields: dict | None = None,
                 headers: dict | None = None):
        self.status_code = status
        self.error_code = code
        self.fields = fields
        self.headers = headers or {}
        super().__init__(detail=detail, code=code)


def not_found(detail: str = "Not found.") -> ApiError:
    return ApiError("not_found", detail, status=404)


def forbidden(detail: str = "You do not have permission to do this.") -> ApiError:
    return ApiError("forbidden", detail, status=403)


def invalid_params(detail: str, fields: dict | None = None) -> ApiError:
    return ApiError("invalid_params", detail, status=400, fields=fields)
