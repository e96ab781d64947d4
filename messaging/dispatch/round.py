"""One round: claim due messages, give them pacing slots, send them, write every outcome back."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from messaging_platform.api import credentials
from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers import get_provider
from numbers.providers.base import Capability, Provider, SendResult, TransientProviderError, async_sender
from numbers.selectors import status_webhook_url, with_query
from workspaces.models import Workspace

from .. import lifecycle, pacing, wakeup
from ..lifecycle import Failed, FailOver, RetryLater, WaitForSlot
from ..models import Message, Status
from ..operations.logs import log_message_outcome
from .jobs import Outcomes, RoundHooks, _by_provider, _Job, _record_error, _record_sent, _retry
from .loop import run_on_loop
from .scope import Scope, celery_scope
from .sends import _send_all, _send_in_thread

logger = logging.getLogger(__name__)


def dispatch_round(*, limit: int | None = None, scope: Scope | None = None) -> int:
    """Claim up to `limit` due messages, send them, write the outcomes; answers how many it claimed."""
    return _round(limit or settings.DISPATCH_BATCH_SIZE, scope or celery_scope())[0]


def _round(limit: int, scope: Scope) -> tuple[int, Outcomes | None]:
    outcomes = Outcomes()
    # The claim, the pacing decisions and the `sending` of those that go in one transaction: one
    # commit before the sends. Those without a slot go back in it, so nobody sees them claimed;
    # if it fails, nothing was claimed.
    with transaction.atomic():
        claimed = lifecycle.messages_claim_due(
            limit=limit,
            providers=scope.providers,
            exclude_providers=scope.exclude_providers,
            account_ids=scope.account_ids,
            announce=False,
        )
        if not claimed:
            return 0, None
        jobs, waiting = _ready(claimed, outcomes, announced=False)
    _wake_when_due([], False, waiting)
    return len(claimed), _send_and_write_back(jobs, outcomes, len(claimed))


def dispatch_messages(message_ids: Sequence[str]) -> list[RetryLater]:
    """Claim and send these messages if they are still queued, whenever they are due (the tasks
    of an eager run, and sends woken by id); answers the retries it scheduled."""
    claimed = lifecycle.messages_claim(message_ids=list(message_ids))
    if not claimed:
        return []
    outcomes = deliver(claimed)
    # Those gone to their fallback account are due again at once, like a retry.
    return outcomes.retry + [RetryLater(job.message.id, 0, str(exc)) for job, exc in outcomes.not_taken]


def deliver(claimed: Sequence[Message], *, announced: bool = True) -> Outcomes:
    """Send claimed messages and write back what became of them. `announced=False`: their
    `sending` is told only for those sent this round (the rest go back to `queued` unseen)."""
    outcomes = Outcomes()
    with transaction.atomic():
        jobs, waiting = _ready(claimed, outcomes, announced=announced)
    _wake_when_due([], False, waiting)
    return _send_and_write_back(jobs, outcomes, len(claimed))


def _ready(
    claimed: Sequence[Message], outcomes: Outcomes, *, announced: bool
) -> tuple[list[_Job], list[WaitForSlot]]:
    """In the caller's transaction, before any send: each message's adapter, its pacing slot (those
    without one go back to `queued` now: nothing waits in `sending`, where a crash would leave it
    to the lease, that was never sent), the `sending` of the rest if not yet told, and what the
    hooked adapters keep beside a message (committed before the sends: it must outlive a crash
    mid-send). Answers the jobs to send and the messages sent back to wait."""
    jobs = _jobs(claimed, outcomes)
    waiting: list[WaitForSlot] = []
    if jobs and pacing.pacing_enabled():
        jobs = _paced(jobs, outcomes)
        waiting, outcomes.wait = outcomes.wait, []
        lifecycle.messages_wait_for_slot(waiting, announced=announced)
    if jobs and not announced:
        lifecycle.messages_announce_sending([job.message for job in jobs])
    hooked = [job for job in jobs if Capability.ROUND_HOOKS in job.provider.capabilities]
    refused = _prepare_sends(hooked)
    if refused:
        for job in jobs:
            decided = refused.get(job.message.id)
            if isinstance(decided, SendResult):  # the carrier has it already: not sent again
                _record_sent(job, decided, outcomes)
            elif decided is not None:
                _record_error(job, decided, outcomes)
        jobs = [job for job in jobs if job.message.id not in refused]
    return jobs, waiting


def _send_and_write_back(jobs: list[_Job], outcomes: Outcomes, claimed: int) -> Outcomes:
    t0 = time.monotonic()
    outcomes.jobs = jobs
    _release_db_connection()
    concurrent = [job for job in jobs if async_sender(job.provider) is not None]
    one_by_one = [job for job in jobs if async_sender(job.provider) is None]
    if concurrent:
        run_on_loop(_send_all(concurrent, outcomes))
    for job in one_by_one:
        _send_in_thread(job, outcomes)
    t1 = time.monotonic()
    _write_back(outcomes)
    logger.debug(
        "Round of %d: sent in %.3f s, written back in %.3f s", claimed, t1 - t0, time.monotonic() - t1
    )
    return outcomes


def _jobs(claimed: Sequence[Message], outcomes: Outcomes) -> list[_Job]:
    """Each claimed message with the adapter of its carrier account: the one it was routed to, else
    the account its sender number belongs to, else the workspace's primary one (numbers.routing's
    rule). The round's workspaces' accounts and numbers come from this process's cache, exact
    under the credentials token (any change to carrier accounts or numbers replaces it)."""
    accounts: dict[int, ProviderAccount] = {}
    primary: dict[str, ProviderAccount] = {}
    own_account: dict[tuple[str, str], int] = {}
    for workspace_id, kept in _accounts_of({m.workspace_id for m in claimed}).items():
        accounts.update(kept.accounts)
        if kept.primary is not None:
            primary[workspace_id] = kept.primary
        own_account.update(((workspace_id, number), pk) for number, pk in kept.numbers.items())
    providers: dict[int, Provider] = {}
    callback_bases: dict[tuple[str, int], str] = {}
    jobs = []
    for message in claimed:
        account_id = message.carrier_account_id or own_account.get(
            (message.workspace_id, message.from_number)
        )
        account = accounts.get(account_id) if account_id else primary.get(message.workspace_id)
        if account is None:
            outcomes.failed.append(
                Failed(
                    message.id, "provider_not_configured", "The workspace has no carrier account any more."
                )
            )
            continue
        if account.pk not in providers:
            providers[account.pk] = get_provider(account)
        base = callback_bases.get((message.workspace_id, account.pk))
        if base is None:
            base = callback_bases[(message.workspace_id, account.pk)] = _status_webhook(
                message.workspace_id, account
            )
        # Our own id rides along, so a callback that beats the stored provider_sid still finds it.
        jobs.append(_Job(message, providers[account.pk], with_query(base, message_id=message.id)))
    return jobs


@dataclass(frozen=True)
class _Accounts:
    """A workspace's carrier accounts by id, its primary one, and its numbers' own accounts."""

    accounts: dict[int, ProviderAccount]
    primary: ProviderAccount | None
    numbers: dict[str, int]  # phone number -> the account it belongs to


# Per process: workspace id -> (the credentials token it was read under, when, its accounts).
_kept_accounts: dict[str, tuple[str, float, _Accounts]] = {}
_KEEP_SECONDS = credentials.MAX_AGE_SECONDS  # a backstop; the token is the mechanism
_KEEP_MAX = 10_000


def _accounts_of(workspace_ids: set[str]) -> dict[str, _Accounts]:
    """The workspaces' carrier accounts and numbers: kept in this process under the credentials
    token (read once a round; a trigger replaces it in the transaction of any change to carrier
    accounts or numbers), the others read in two queries. Without a token (not PostgreSQL),
    read every round."""
    token = credentials.current_token()
    now = time.monotonic()
    found: dict[str, _Accounts] = {}
    if token is not None:
        for workspace_id in workspace_ids:
            kept = _kept_accounts.get(workspace_id)
            if kept is not None and kept[0] == token and now - kept[1] < _KEEP_SECONDS:
                found[workspace_id] = kept[2]
    missing = workspace_ids - found.keys()
    if not missing:
        return found
    by_workspace: dict[str, dict[int, ProviderAccount]] = {ws: {} for ws in missing}
    for account in ProviderAccount.objects.filter(workspace_id__in=missing):
        by_workspace[account.workspace_id][account.pk] = account
    numbers: dict[str, dict[str, int]] = {ws: {} for ws in missing}
    for ws, number, account_id in PhoneNumber.objects.filter(
        workspace_id__in=missing, account__isnull=False
    ).values_list("workspace_id", "phone_number", "account_id"):
        numbers[ws][number] = account_id
    if len(_kept_accounts) >= _KEEP_MAX:
        _kept_accounts.clear()
    for ws in missing:
        accounts = by_workspace[ws]
        primary = next((a for a in accounts.values() if a.is_primary), None)
        found[ws] = _Accounts(accounts, primary, numbers[ws])
        if token is not None:
            _kept_accounts[ws] = (token, now, found[ws])
    return found


def _prepare_sends(jobs: list[_Job]) -> dict[str, Exception | SendResult]:
    """Each hooked adapter's prepare_sends for its messages of the round: the messages not to
    send, with the error they end with, or the result of an earlier send the carrier took."""
    refused: dict[str, Exception | SendResult] = {}
    for group in _by_provider(jobs).values():
        hooks = cast(RoundHooks, group[0].provider)
        refused.update(hooks.prepare_sends([job.message for job in group]))
    return refused


def _record_sends(outcomes: Outcomes) -> None:
    """Each hooked adapter's record_sends, inside the round's write-back."""
    hooked = [job for job in outcomes.jobs if Capability.ROUND_HOOKS in job.provider.capabilities]
    if not hooked:
        return
    sent = {id(job): result for job, result in outcomes.results}
    for group in _by_provider(hooked).values():
        cast(RoundHooks, group[0].provider).record_sends(
            [(job.message, sent[id(job)]) for job in group if id(job) in sent],
            [job.message.id for job in group if id(job) not in sent],
        )


def _status_webhook(workspace_id: str, account: ProviderAccount) -> str:
    return status_webhook_url(workspace=Workspace(pk=workspace_id), account=account)


def status_callback_url(message: Message, account: ProviderAccount) -> str:
    """The status callback URL the carrier is given for this message."""
    return with_query(_status_webhook(message.workspace_id, account), message_id=message.id)


def _paced(jobs: list[_Job], outcomes: Outcomes) -> list[_Job]:
    """Give each message a slot of its sender within the horizon (one Redis trip per sender);
    the rest go back to `queued` until shortly before their sender would be free for them, one
    spacing apart, so that later rounds claim them as they come due rather than all at once."""
    by_sender: dict[pacing.PacedSender, list[_Job]] = defaultdict(list)
    for job in jobs:
        sender = pacing.sender_of(
            from_number=job.message.from_number, messaging_service_sid=job.message.messaging_service_sid
        )
        by_sender[sender].append(job)
    going = []
    for sender, group in by_sender.items():
        reserved_at = time.time()
        try:
            slots = pacing.reserve_slots(
                sender.key, sender.rate, len(group), settings.DISPATCH_PACING_HORIZON_SECONDS
            )
        except Exception as exc:  # Redis unreachable: the messages wait and are claimed again
            logger.warning("Pacing unavailable (%s); %d messages of %s wait", exc, len(group), sender.key)
            outcomes.wait += [WaitForSlot(job.message.id, reserved_at + 1.0) for job in group]
            continue
        for i, job in enumerate(group[: slots.count]):
            job.sender, job.go_at = sender, reserved_at + slots.first + i * slots.spacing
            going.append(job)
        # Due again when its slot would come within half the horizon: a round then takes it.
        due = reserved_at + slots.after - settings.DISPATCH_PACING_HORIZON_SECONDS / 2
        outcomes.wait += [
            WaitForSlot(job.message.id, max(reserved_at, due + i * slots.spacing))
            for i, job in enumerate(group[slots.count :])
        ]
    return going


def _release_db_connection() -> None:
    """With a connection pool, hand this thread's connection back while the sends are out."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def _write_back(outcomes: Outcomes) -> None:
    """Every outcome of the round in one commit. If PostgreSQL is away, try again for a while;
    after that the messages stay `sending`, and the sweep finds them at the carrier after their
    lease (never sending them twice)."""
    failovers = _failovers(outcomes)
    for attempt in range(settings.DISPATCH_WRITE_ATTEMPTS):
        try:
            with transaction.atomic():
                lifecycle.messages_mark_sent(
                    outcomes.sent, claimed={job.message.id: job.message for job in outcomes.jobs}
                )
                lifecycle.messages_fail(outcomes.failed)
                retried = lifecycle.messages_retry_later(outcomes.retry, wake=False)
                lifecycle.messages_wait_for_slot(outcomes.wait)
                lifecycle.messages_fail_over(failovers)
                _record_sends(outcomes)
            break
        except OperationalError:
            logger.warning("Could not write %d outcomes back (attempt %d)", _count(outcomes), attempt + 1)
            connection.close()
            time.sleep(1.0)
    else:
        logger.error(
            "Gave up writing %d outcomes back; the sweep recovers them after the lease", _count(outcomes)
        )
        return
    _wake_when_due(retried, bool(failovers), outcomes.wait)


def _wake_when_due(retried: Sequence[Message], failed_over: bool, waiting: Sequence[WaitForSlot]) -> None:
    """Wake a runner when the first of these comes due (the runners only claim due messages)."""
    due = [m.next_attempt_at for m in retried if m.status == Status.QUEUED and m.next_attempt_at]
    due += [timezone.now()] if failed_over else []
    due += [timezone.make_aware(datetime.fromtimestamp(w.not_before)) for w in waiting]
    if due and not settings.CELERY_TASK_ALWAYS_EAGER:  # eager runs retry at once (run_eagerly)
        wakeup.wake(countdown=max(0.0, (min(due) - timezone.now()).total_seconds()))


def _count(outcomes: Outcomes) -> int:
    return (
        len(outcomes.sent)
        + len(outcomes.failed)
        + len(outcomes.retry)
        + len(outcomes.wait)
        + len(outcomes.not_taken)
    )


def _failovers(outcomes: Outcomes) -> list[FailOver]:
    """Each not-taken message onto its fallback account, from that account's sender; one whose
    fallback cannot take it (gone, disabled, no sender) takes the refusal's ordinary course."""
    from numbers.routing import failover_targets

    if not outcomes.not_taken:
        return []
    try:
        # Only messages with a fallback account are kept for one (_fails_over).
        targets = failover_targets(
            cast(int, job.message.fallback_account_id) for job, _ in outcomes.not_taken
        )
    except OperationalError:  # PostgreSQL away: retried as usual, with the rest of the round
        connection.close()
        targets = {}
    items = []
    for job, exc in outcomes.not_taken:
        target = targets.get(cast(int, job.message.fallback_account_id))
        if target is None:
            if isinstance(exc, TransientProviderError):
                outcomes.retry.append(_retry(job, exc))
            else:
                _record_error(job, exc, outcomes)
            continue
        account, from_number, service_sid = target
        reason = (
            f"{job.provider.name} did not take it ({exc}); failed over to carrier account "
            f"{account.uid} ({account.provider})."
        )
        items.append(
            FailOver(
                job.message.id,
                account.pk,
                from_number,
                service_sid,
                (getattr(exc, "code", None) or "not_taken")[:16],
                reason,
            )
        )
        log_message_outcome(job.message, f"Failed over to carrier account {account.uid}")
    return items
