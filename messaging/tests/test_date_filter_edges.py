"""Date filters at the edges the fuzzer found: offsets PostgreSQL refuses, the last day there is."""

import pytest

from conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["9071-01-12T11:19:14+17:55", "2024-01-15T10:30:00-23:59"])
def test_an_offset_beyond_postgresqls_range_is_read_as_utc(api_client, value):
    assert api_client.get("/api/messages", {"endDate": value}).status_code == 200


@pytest.mark.parametrize("params", [{"endDate": "9999-12-31"}, {"startDate": "0001-01-01T00:00:00+01:00"}])
def test_a_moment_outside_the_calendar_is_invalid_params(api_client, params):
    assert_error(api_client.get("/api/messages", params), 400, "invalid_params")
