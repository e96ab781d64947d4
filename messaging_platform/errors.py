"""The error a rule of the platform raises: a code, a sentence for people, optional field errors.

Services and selectors raise it and know nothing of HTTP. The API turns it into
`{"error": code, "detail": detail}` with the status its code stands for
(messaging_platform/api/exceptions.py); the pages turn it into a form error, a flash or a 404
(workspaces/pages.py).
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the caller can act on; `code` is stable (clients and tests match on it)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.fields = fields
        # Seconds after which trying again may succeed (a rate limit, a carrier that is down).
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.detail!r})"


def not_found(detail: str = "Not found.") -> DomainError:
    return DomainError("not_found", detail)


def forbidden(detail: str = "You do not have permission to do this.") -> DomainError:
    return DomainError("forbidden", detail)


def invalid_params(detail: str, fields: dict[str, list[str]] | None = None) -> DomainError:
    return DomainError("invalid_params", detail, fields=fields)
