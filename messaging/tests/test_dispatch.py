"""The delivery engine's rounds against PostgreSQL, Redis and the fake Twilio over HTTP: many
messages claimed in one round, sent concurrently, written back; paced per sender; scoped to
carrier providers; and woken once for many accepts."""

import time

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from conftest import require_service, uses_postgres
from messaging import dispatch, wakeup
from messaging.dispatch import runners
from messaging.models import Message, MessageEvent, Status
from messaging.tests.conftest import CONTACT
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE, TWILIO_TOLL_FREE
from numbers.models import NumberType, PhoneNumber

URL = "/api/messages/batch"


@pytest.fixture
def queued(api_client, twilio_workspace, django_capture_on_commit_callbacks):
    """queued(n, **fields) -> ids: n messages accepted and left queued (the wake-up not run)."""

    def make(n: int, **fields) -> list[str]:
        with django_capture_on_commit_callbacks(execute=False):
            response = api_client.post(
                URL,
                {"messages": [{"to": f"+1415555{i:04d}", "body": f"Round {i}", **fields} for i in range(n)]},
                format="json",
            )
        assert response.status_code == 200, response.content
        return [item["message"]["id"] for item in response.json()["data"]]

    return make


def test_one_round_claims_sends_and_writes_back_a_whole_batch(queued, fake_twilio, settings):
    settings.DISPATCH_BATCH_SIZE = 500
    fake_twilio.latency = 0.05  # 60 one after another would take 3 s
    ids = queued(60)

    assert dispatch.dispatch_round() == 60

    messages = Message.objects.filter(pk__in=ids)
    assert {m.status for m in messages} == {Status.SENT}
    assert len({m.provider_sid for m in messages}) == 60
    assert sorted(m.body for m in fake_twilio.messages) == sorted(f"Round {i}" for i in range(60))
    assert {m.provider_sid for m in messages} == {m.sid for m in fake_twilio.messages}
    assert MessageEvent.objects.filter(message_id__in=ids, status=Status.SENDING).count() == 60
    assert MessageEvent.objects.filter(message_id__in=ids, status=Status.SENT).count() == 60
    assert dispatch.dispatch_round() == 0  # nothing left: a second round claims nothing
    assert len(fake_twilio.messages) == 60


def test_a_round_takes_at_most_its_batch_and_the_next_round_the_rest(queued, fake_twilio, settings):
    settings.DISPATCH_BATCH_SIZE = 25
    queued(40)

    assert dispatch.dispatch_round() == 25
    assert dispatch.dispatch_round() == 15
    assert Message.objects.filter(status=Status.SENT).count() == 40
    assert fake_twilio.duplicate_sends() == {}


def test_outcomes_of_one_round_differ_per_message(queued, fake_twilio, settings):
    settings.SEND_RETRY_BASE_SECONDS = 60
    fake_twilio.reject_recipient("+14155550001", 21610, "Attempt to send to unsubscribed recipient")
    ids = queued(3)
    fake_twilio.fail_next(0)

    dispatch.dispatch_round()

    by_to = {m.to_number: m for m in Message.objects.filter(pk__in=ids)}
    assert by_to["+14155550001"].status == Status.FAILED
    assert by_to["+14155550001"].error_code == "21610"
    assert {by_to["+14155550000"].status, by_to["+14155550002"].status} == {Status.SENT}


def test_a_transient_refusal_goes_back_to_queued_for_later(queued, fake_twilio, settings):
    settings.SEND_RETRY_BASE_SECONDS = 60
    [message_id] = queued(1)
    fake_twilio.fail_next(1, status=503)

    dispatch.dispatch_round()

    message = Message.objects.get(pk=message_id)
    assert message.status == Status.QUEUED
    assert message.attempts == 1
    assert message.next_attempt_at is not None
    assert dispatch.dispatch_round() == 0  # not due yet


def test_rounds_can_be_scoped_to_carrier_providers(queued, fake_twilio):
    queued(3)

    assert dispatch.dispatch_round(scope=dispatch.Scope(providers=frozenset({"smpp"}))) == 0
    assert dispatch.dispatch_round(scope=dispatch.Scope(exclude_providers=frozenset({"twilio"}))) == 0
    assert dispatch.dispatch_round(scope=dispatch.Scope(providers=frozenset({"twilio"}))) == 3
    assert len(fake_twilio.messages) == 3


def test_celery_rounds_leave_providers_served_by_their_own_processes(queued, settings):
    settings.DISPATCH_OWN_PROCESS_PROVIDERS = ["twilio"]
    queued(2)
    assert dispatch.dispatch_round() == 0
    assert Message.objects.filter(status=Status.QUEUED).count() == 2


@pytest.fixture
def paced(settings):
    """Pacing on (it needs Redis and a broker, so tasks are not eager here)."""
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SEND_PACING = True
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in client.scan_iter("mp:pace:*"):
        client.delete(key)
    yield


def test_a_round_sends_a_slow_sender_within_its_pace_and_puts_the_rest_back(
    queued, fake_twilio, paced, twilio_workspace, settings
):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    settings.DISPATCH_PACING_HORIZON_SECONDS = 1.0
    PhoneNumber.objects.create(
        workspace=twilio_workspace,
        phone_number=TWILIO_TOLL_FREE,
        number_type=NumberType.TOLL_FREE,
        send_rate=100,
    )
    PhoneNumber.objects.filter(phone_number=TWILIO_LONG_CODE).update(send_rate=1)
    slow = queued(5)
    fast = queued(5, **{"from": TWILIO_TOLL_FREE})

    dispatch.dispatch_round()

    # 1/s: one slot starts within the 1 s horizon; 100/s: all five.
    assert Message.objects.filter(pk__in=fast, status=Status.SENT).count() == 5
    assert Message.objects.filter(pk__in=slow, status=Status.SENT).count() == 1
    waiting = list(Message.objects.filter(pk__in=slow, status=Status.QUEUED).order_by("next_attempt_at"))
    assert len(waiting) == 4
    times = [m.next_attempt_at for m in waiting]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(gap == pytest.approx(1.015, abs=0.01) for gap in gaps)  # due one spacing apart
    assert all(m.attempts == 0 for m in waiting)  # waiting for a slot is not an attempt
    assert fake_twilio.rate_limited == {}


def test_with_pacing_unreachable_a_round_puts_its_messages_back_unseen_and_due_shortly(
    queued, fake_twilio, settings, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SEND_PACING = True
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: every pacing call fails
    woken = []
    monkeypatch.setattr(wakeup, "wake", lambda **kwargs: woken.append(kwargs))
    ids = queued(3)

    assert dispatch.dispatch_round() == 3

    messages = list(Message.objects.filter(pk__in=ids))
    assert {(m.status, m.attempts, m.claimed_at) for m in messages} == {(Status.QUEUED, 0, None)}
    now = timezone.now()
    assert all(0 < (m.next_attempt_at - now).total_seconds() <= 1.0 for m in messages)
    assert not MessageEvent.objects.filter(message_id__in=ids, status=Status.SENDING).exists()
    assert fake_twilio.messages == []
    assert len(woken) == 1 and 0 <= woken[0]["countdown"] <= 1.0  # a runner comes back for them


def test_many_accepts_make_one_wake_up_and_none_while_a_runner_is_at_work(settings):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(wakeup.PENDING_KEY, wakeup.RUNNERS_KEY)
    queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
    before = client.llen(queue)
    try:
        for _ in range(5):
            wakeup.wake(message_ids=[CONTACT])
        assert client.llen(queue) == before + 1
        token = wakeup.runner_lease(4)
        wakeup.dispatch_runner_alive(token)  # a runner took it: it claims what is accepted next
        for _ in range(5):
            wakeup.wake(message_ids=[CONTACT])
        assert client.llen(queue) == before + 1
        wakeup.wake(extra=True)  # a full round asks for one more runner all the same
        assert client.llen(queue) == before + 2
        wakeup.dispatch_runner_done(token)  # the runner stopped: the next accept wakes again
        assert client.zcard(wakeup.RUNNERS_KEY) == 0
        wakeup.wake()
        assert client.llen(queue) == before + 3
    finally:
        for _ in range(client.llen(queue) - before):
            client.rpop(queue)  # the wake-ups this test published, newest last
        client.delete(wakeup.PENDING_KEY, wakeup.RUNNERS_KEY)


def test_a_message_accepted_while_a_runner_stops_is_claimed_by_its_last_look(
    queued, fake_twilio, settings, monkeypatch
):
    """Its wake-up found the pending key held by the runner, so no task comes for it: the runner's
    last look after it lets the key go sends it."""
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SEND_PACING = False  # all due at once: none waits for its sender's next slot
    settings.DISPATCH_IDLE_SECONDS = 0  # it stops at its first empty round
    redis.Redis.from_url(django_settings.REDIS_URL).delete(wakeup.PENDING_KEY, wakeup.RUNNERS_KEY)
    published = []
    monkeypatch.setattr(
        wakeup.app.tasks[wakeup.DISPATCH_TASK], "apply_async", lambda **kw: published.append(kw)
    )
    first = queued(2)
    late: list[str] = []

    def accepted_after_the_last_round(scope):
        # The runner found nothing due; right then one more is accepted and its wake-up made.
        late.extend(queued(1))
        wakeup.wake(message_ids=late)  # as the accept's on_commit does: the key is held
        return None

    monkeypatch.setattr(runners, "next_due_in", accepted_after_the_last_round)
    assert dispatch.run_rounds() == 3
    assert {m.status for m in Message.objects.filter(pk__in=first + late)} == {Status.SENT}
    assert len(fake_twilio.messages) == 3
    # The last look found one: a fresh task is woken to carry on, and nothing more was published.
    assert published == [{"kwargs": None, "countdown": None, "expires": 60}]


def test_a_runner_pauses_after_a_short_round_so_that_the_next_gathers_more(
    queued, fake_twilio, settings, monkeypatch
):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SEND_PACING = False
    settings.DISPATCH_LINGER_SECONDS = 0.2
    settings.DISPATCH_IDLE_SECONDS = 0
    redis.Redis.from_url(django_settings.REDIS_URL).delete(wakeup.PENDING_KEY, wakeup.RUNNERS_KEY)
    monkeypatch.setattr(wakeup.app.tasks[wakeup.DISPATCH_TASK], "apply_async", lambda **kw: None)
    rounds = []
    real_round = runners.dispatch_round

    def counted(**kwargs):
        n = real_round(**kwargs)
        rounds.append(n)
        return n

    monkeypatch.setattr(runners, "dispatch_round", counted)
    pauses = []

    class Clock:  # the runner's clock: three more are accepted during its first pause
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds):
            pauses.append(seconds)
            if len(pauses) == 1:
                queued(3)

    monkeypatch.setattr(runners, "time", Clock)
    queued(1)

    assert dispatch.run_rounds() == 4
    assert rounds[:2] == [1, 3]  # the three accepted during the pause went out in one round
    assert pauses[0] == 0.2
    assert len(fake_twilio.messages) == 4


def test_a_runner_with_nothing_queued_keeps_looking_a_while_and_sends_what_comes_meanwhile(
    queued, fake_twilio, settings, monkeypatch
):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SEND_PACING = False
    settings.DISPATCH_LINGER_SECONDS = 0.02
    settings.DISPATCH_IDLE_SECONDS = 0.5
    redis.Redis.from_url(django_settings.REDIS_URL).delete(wakeup.PENDING_KEY, wakeup.RUNNERS_KEY)
    published = []
    monkeypatch.setattr(
        wakeup.app.tasks[wakeup.DISPATCH_TASK], "apply_async", lambda **kw: published.append(kw)
    )
    ids: list[str] = []
    clock = {"now": 0.0, "pauses": 0}

    class Clock:  # the runner's clock, moved on by its pauses: two are accepted 0.1 s in
        @staticmethod
        def monotonic():
            return clock["now"]

        @staticmethod
        def sleep(seconds):
            clock["now"] += seconds
            clock["pauses"] += 1
            if clock["pauses"] == 5:
                ids.extend(queued(2))
                wakeup.wake(message_ids=ids)  # the runner holds the pending key: no task

    monkeypatch.setattr(runners, "time", Clock)

    assert dispatch.run_rounds() == 2
    assert {m.status for m in Message.objects.filter(pk__in=ids)} == {Status.SENT}
    assert len(fake_twilio.messages) == 2
    assert published == []  # the runner that was looking sent them: no task was woken
    assert clock["now"] == pytest.approx(0.1 + 0.02 + 0.5, abs=0.03)  # then idle 0.5 s, and done


def test_beats_tick_leaves_the_work_to_a_runner_at_work_and_runs_rounds_when_none_is(
    queued, fake_twilio, settings, monkeypatch
):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.SEND_PACING = False
    settings.DISPATCH_IDLE_SECONDS = 0
    redis.Redis.from_url(django_settings.REDIS_URL).delete(wakeup.PENDING_KEY, wakeup.RUNNERS_KEY)
    monkeypatch.setattr(wakeup.app.tasks[wakeup.DISPATCH_TASK], "apply_async", lambda **kw: None)
    ids = queued(2)
    token = wakeup.runner_lease(4)
    wakeup.dispatch_runner_alive(token)  # another worker's runner is at work: it claims them

    assert dispatch.run_rounds(tick=True) == 0
    assert {m.status for m in Message.objects.filter(pk__in=ids)} == {Status.QUEUED}

    wakeup.dispatch_runner_done(token)  # it stopped (or died, and the key ran out)
    assert dispatch.run_rounds(tick=True) == 2
    assert {m.status for m in Message.objects.filter(pk__in=ids)} == {Status.SENT}
    assert len(fake_twilio.messages) == 2


def test_runner_leases_cap_how_many_run_at_once(settings):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(wakeup.RUNNERS_KEY)
    first, second = wakeup.runner_lease(2), wakeup.runner_lease(2)
    assert first and second
    assert wakeup.runner_lease(2) is None
    wakeup.release_runner_lease(first)
    third = wakeup.runner_lease(2)
    assert third
    for token in (second, third):
        wakeup.release_runner_lease(token)


def test_a_wake_up_finding_its_process_full_is_passed_on_for_another_process(settings, monkeypatch):
    require_service("Redis (REDIS_URL)", bool(django_settings.REDIS_URL))
    redis.Redis.from_url(django_settings.REDIS_URL).delete(wakeup.RUNNERS_KEY)
    settings.DISPATCH_RUNNERS_PER_PROCESS = 1
    settings.DISPATCH_WAKE_HOPS = 2
    passed = []
    monkeypatch.setattr(wakeup, "wake", lambda **kwargs: passed.append(kwargs))
    monkeypatch.setattr(runners, "_run_rounds", lambda *args: 7)
    assert runners._runner_here()  # one runner already at work in this process
    try:
        assert dispatch.run_rounds(hops=0) == 0
        assert dispatch.run_rounds(hops=2) == 0  # passed on enough: dropped (the tick wakes again)
    finally:
        runners._runner_gone()
    assert passed == [{"hops": 1, "extra": True}]  # past the pending key the first wake-up set
    # The refused ones gave their leases back at once.
    assert redis.Redis.from_url(django_settings.REDIS_URL).zcard(wakeup.RUNNERS_KEY) == 0
    monkeypatch.setattr(
        runners,
        "_run_rounds",
        lambda scope, limit, token, seconds: (wakeup.release_runner_lease(token), 7)[1],
    )
    assert dispatch.run_rounds() == 7  # room again: it runs here


SMPP_SENDER = "+12025550188"


def test_a_second_smpp_account_claims_only_its_own_numbers_messages(queued, fake_twilio, twilio_workspace):
    """Twilio primary plus an SMPP account with a number of its own: Celery's rounds send the
    Twilio messages, the SMPP account's messages wait for its bind process."""
    from messaging import lifecycle
    from numbers.models import ProviderAccount

    smpp = ProviderAccount.objects.create(
        workspace=twilio_workspace,
        provider="smpp",
        is_primary=False,
        auth_token="pw",
        settings={"host": "127.0.0.1", "system_id": "platform"},
    )
    PhoneNumber.objects.create(workspace=twilio_workspace, phone_number=SMPP_SENDER, account=smpp)
    via_twilio = queued(2)
    via_smpp = queued(2, **{"from": SMPP_SENDER})

    assert dispatch.dispatch_round() == 2
    assert {m.status for m in Message.objects.filter(pk__in=via_twilio)} == {Status.SENT}
    assert {m.status for m in Message.objects.filter(pk__in=via_smpp)} == {Status.QUEUED}
    assert dispatch.dispatch_messages(via_smpp) == []  # woken by id: still not Celery's
    assert {m.status for m in Message.objects.filter(pk__in=via_smpp)} == {Status.QUEUED}
    assert len(fake_twilio.messages) == 2

    claimed = lifecycle.messages_claim_due(limit=10, account_ids=[smpp.pk])
    assert sorted(m.id for m in claimed) == sorted(via_smpp)


def test_a_send_whose_answer_timed_out_is_looked_up_at_the_carrier_not_sent_twice(
    queued, fake_twilio, settings, django_capture_on_commit_callbacks
):
    import time
    from datetime import timedelta

    from django.utils import timezone

    from messaging.sweeps import sweep_messages

    settings.TWILIO_HTTP_TIMEOUT = 0.5
    [message_id] = queued(1)
    fake_twilio.slow, fake_twilio.slow_seconds = True, 1.5  # takes the message, answers too late

    dispatch.dispatch_round()

    assert Message.objects.get(pk=message_id).status == Status.SENDING  # in doubt, not retried
    fake_twilio.slow = False
    deadline = time.monotonic() + 10
    while not fake_twilio.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    [taken] = fake_twilio.messages
    assert dispatch.dispatch_round() == 0  # nothing to claim: it is not queued again
    # After the lease the sweep finds it at the carrier: sent, with the carrier's sid, once.
    Message.objects.filter(pk=message_id).update(claimed_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_messages()["sending"] == 1
    message = Message.objects.get(pk=message_id)
    assert message.provider_sid == taken.sid
    assert message.status in (Status.SENT, Status.DELIVERED)
    assert len(fake_twilio.messages) == 1
    assert fake_twilio.duplicate_sends() == {}
