"""The messages list's filters are parsed once, into the same typed values wherever they come from."""

from datetime import UTC, date, datetime

import pytest

from messaging.filters import MessageFilters, page_message_filters, parse_message_filters
from messaging_platform.errors import DomainError


def test_query_parameters_become_typed_values():
    filters = parse_message_filters(
        {
            "direction": "outbound",
            "status": "delivered",
            "from": "+1 415 555 2671",
            "to": "+14155552672",
            "startDate": "2026-03-01",
            "endDate": "2026-03-31",
            "conversation": "cnv_1",
            "search": "hello",
            "updated_since": "2026-03-02T10:00:00+02:00",
        }
    )
    assert filters == MessageFilters(
        direction="outbound",
        status="delivered",
        from_number="+14155552671",
        to_number="+14155552672",
        created_from=datetime(2026, 3, 1, tzinfo=UTC),
        created_before=datetime(2026, 4, 1, tzinfo=UTC),
        conversation_id="cnv_1",
        search="hello",
        updated_after=datetime(2026, 3, 2, 8, tzinfo=UTC),
    )


def test_an_end_date_with_a_time_is_inclusive_of_that_moment():
    filters = parse_message_filters({"endDate": "2026-03-31T12:00:00Z"})
    assert filters.created_through == datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert filters.created_before is None


def test_the_page_form_and_the_api_give_the_same_filters_for_the_same_days():
    from_page = page_message_filters(
        direction="inbound", from_number="+14155552671", start=date(2026, 3, 1), end=date(2026, 3, 31)
    )
    from_api = parse_message_filters(
        {"direction": "inbound", "from": "+14155552671", "startDate": "2026-03-01", "endDate": "2026-03-31"}
    )
    assert from_page == from_api


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"startDate": "2026-13-01"}, "startDate"),
        ({"endDate": "9999-12-31"}, "endDate"),
        ({"to": "not a number"}, "to"),
    ],
)
def test_a_bad_value_is_a_domain_error_naming_its_parameter(params, field):
    with pytest.raises(DomainError) as refused:
        parse_message_filters(params)
    assert field in (refused.value.fields or {})


def test_the_last_day_of_the_calendar_is_refused_on_the_page_as_in_the_api():
    with pytest.raises(DomainError) as refused:
        page_message_filters(end=date(9999, 12, 31))
    assert refused.value.fields == {"endDate": ["Use ISO 8601, for example 2024-01-15T10:30:00Z."]}
