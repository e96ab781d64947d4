"""Errors with Twilio's codes; responses.py answers them in Twilio's shape."""

from __future__ import annotations


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def unauthorized() -> TwilioError:
    return TwilioError(401, 20003, "Authenticate")


def invalid(code: int, message: str) -> TwilioError:
    return TwilioError(400, code, message)


def internal_error() -> TwilioError:
    return TwilioError(500, 20500, "An internal server error occurred. It has been logged.")
