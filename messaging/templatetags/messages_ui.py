"""Template filters of the message pages."""

from django import template

from messaging.carrier_errors import ErrorExplanation, explain_error, known_errors

register = template.Library()


@register.filter
def explain(code: str | None) -> ErrorExplanation | None:
    return explain_error(code)


@register.simple_tag
def error_table() -> dict[str, dict[str, str]]:
    """The table of meanings for the page's script (a message that fails while the page is open)."""
    return {e.code: {"meaning": e.meaning, "action": e.action} for e in known_errors()}
