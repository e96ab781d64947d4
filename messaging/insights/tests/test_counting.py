"""The dashboard's counts, kept by the lifecycle and the inbound filing as messages move, and
rebuilt from the stored messages to the same figures."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import uses_postgres
from messaging import lifecycle
from messaging.insights.counting import ADVISORY_LOCK_CLASS, country_of
from messaging.insights.models import ROLLED_SLOT, InsightCount
from messaging.insights.selectors import insights_report
from messaging.lifecycle import Failed, RetryLater, Sent
from messaging.models import Message, Status

from .traffic import GB, OTHER_SENDER, counts, make, move_a_day_of_traffic

pytestmark = pytest.mark.django_db


def test_every_counted_change_lands_in_its_hour_and_each_dimension(workspace, accounts, clock):
    twilio, telnyx = accounts
    move_a_day_of_traffic(workspace, clock)
    day = insights_report(
        workspace=workspace,
        start=datetime(2026, 11, 30, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC),
        interval="hour",
        group_by="carrier",
    )
    totals = day["totals"]
    assert (totals["sent"], totals["delivered"], totals["undelivered"], totals["failed"]) == (6, 3, 2, 2)
    assert (totals["received"], totals["opt_outs"]) == (2, 1)
    assert totals["delivery_rate"] == round(3 / 7, 4)
    by_hour = {p["start"].hour: p for p in day["series"] if p["sent"] or p["delivered"] or p["received"]}
    assert by_hour[9]["sent"] == 5 and by_hour[9]["delivered"] == 2
    assert by_hour[10]["delivered"] == 1 and by_hour[10]["failed"] == 2 and by_hour[10]["undelivered"] == 2
    assert by_hour[12]["sent"] == 1 and by_hour[12]["received"] == 2 and by_hour[12]["opt_outs"] == 1
    # Deliveries of 4 s (hour 9) and 15 min (hour 10): the bins give their times back.
    assert 3 <= by_hour[9]["median_seconds_to_delivered"] <= 5
    assert 600 <= by_hour[10]["median_seconds_to_delivered"] <= 1800
    carriers = {row["key"]: row for row in day["breakdown"]}
    assert carriers[telnyx.uid]["sent"] == 2 and carriers[telnyx.uid]["undelivered"] == 1
    assert carriers[telnyx.uid]["label"] == "Backup (telnyx)"
    assert carriers[twilio.uid]["sent"] == 4 and carriers[twilio.uid]["received"] == 2
    errors = {(e["provider"], e["code"]): e for e in day["top_errors"]}
    assert errors[("twilio", "30003")]["meaning"].startswith("The handset could not be reached")
    assert errors[("telnyx", "40008")]["count"] == 1
    assert errors[("twilio", "21211")]["failed"] == 1
    assert errors[("twilio", "30001")]["fix"].startswith("Send more slowly")
    countries = insights_report(
        workspace=workspace,
        start=datetime(2026, 11, 30, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC),
        interval="day",
        group_by="country",
    )
    by_country = {row["key"]: row for row in countries["breakdown"]}
    assert by_country["GB"]["sent"] == 2 and by_country["GB"]["opt_outs"] == 1
    assert by_country["US"]["sent"] == 4


def test_the_rebuild_recounts_exactly_what_was_counted_live(workspace, other_workspace, accounts, clock):
    move_a_day_of_traffic(workspace, clock)
    make(other_workspace, n=2)
    lifecycle.messages_mark_sent(
        [Sent(m.id, f"SM{m.id}") for m in Message.objects.filter(workspace=other_workspace)]
    )
    live, others = counts(workspace), counts(other_workspace)
    assert live and others
    InsightCount.objects.filter(workspace=workspace).update(sent=0, delivered=99)  # damaged
    call_command("insights_rebuild", "--workspace", workspace.pk, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert counts(workspace) == live
    assert counts(other_workspace) == others  # untouched
    # Written as the roll-up leaves finished hours: one row per key.
    slots = InsightCount.objects.filter(workspace=workspace).values_list("slot", flat=True)
    assert set(slots) == {ROLLED_SLOT}


def test_a_batch_is_counted_in_one_statement_whatever_its_size(workspace, accounts):
    messages = make(workspace, n=200) + make(workspace, to=GB, sender=OTHER_SENDER, n=200)
    with CaptureQueriesContext(connection) as queries:
        lifecycle.messages_mark_sent([Sent(m.id, f"SM{m.id}") for m in messages])
    writes = [q["sql"] for q in queries.captured_queries if "insights_count" in q["sql"]]
    assert len(writes) == 1
    # Two senders, two countries, two carrier accounts, one hour: seven rows (and their days'
    # six), not four hundred.
    assert InsightCount.objects.filter(workspace=workspace, daily=False).count() == 7
    assert InsightCount.objects.filter(workspace=workspace, daily=True).count() == 6
    assert InsightCount.objects.get(workspace=workspace, dimension="").sent == 400
    assert (
        sum(
            InsightCount.objects.filter(workspace=workspace, dimension="sender", daily=True).values_list(
                "sent", flat=True
            )
        )
        == 400
    )


def test_statuses_that_are_not_outcomes_count_nothing(workspace, accounts):
    [message] = make(workspace, status=Status.QUEUED)
    lifecycle.messages_claim(message_ids=[message.id])
    lifecycle.messages_retry_later([RetryLater(message.id, 1, "timeout")], wake=False)
    assert not InsightCount.objects.exists()


@pytest.mark.skipif(not uses_postgres(), reason="advisory locks are PostgreSQL's")
def test_a_transaction_counts_into_a_slot_no_other_open_transaction_holds(workspace, accounts):
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")},
        autocommit=False,
    ) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s, 0)", [ADVISORY_LOCK_CLASS])  # a busy worker
        lifecycle.messages_mark_sent([Sent(m.id, f"SM{m.id}") for m in make(workspace, n=3)])
        lifecycle.messages_fail([Failed(m.id, "30003", "x") for m in make(workspace, n=2)])
        other.rollback()
    assert set(InsightCount.objects.filter(workspace=workspace).values_list("slot", flat=True)) == {1}
    total = InsightCount.objects.get(workspace=workspace, dimension="", daily=False)
    assert (total.sent, total.failed) == (3, 2)


def test_countries_come_from_the_numbering_plan():
    assert country_of("+14155552671") == "US"
    assert country_of("+16135550123") == "CA"  # the same calling code, told apart by area code
    assert country_of("+447400123456") == "GB"
    assert country_of("+447911123456") == "GG"  # Guernsey: the same calling code as Britain
    assert country_of("+33612345678") == "FR"
    assert country_of("not a number") == ""
