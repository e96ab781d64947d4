"""Delivery yields to a broadcast being made.

Making a broadcast and delivering messages share the workers' cores, and delivery costs about
four times as much a message as making one: run side by side, delivery of the first slices takes
most of the machine and the making of the rest waits. So while a broadcast is being made, its
workers hold delivery-runner leases (messaging.wakeup, the count every delivery runner takes one
of) and leave BROADCAST_DELIVERY_RUNNERS of DISPATCH_RUNNERS to delivery. Nothing is kept from the
carrier: the messages are `queued` in the table, the runners that may run claim them as ever, and
the rest start when the making ends (or the leases run out, BROADCAST_HOLD_SECONDS after a worker
that held them stopped renewing them). One worker holds them for the broadcasts being made at a
time (a lease of its own kind); another takes over when it is done.
"""

from django.conf import settings

from .. import wakeup

HOLDER_KEY = "mp:broadcasts:delivery-hold"


class DeliveryHold:
    """The leases one broadcast worker holds: `renew()` before each batch, `release()` at the end."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self.leases: list[str] = []

    def renew(self) -> None:
        """Hold the leases (or keep holding them) unless another worker does."""
        wanted = settings.DISPATCH_RUNNERS - settings.BROADCAST_DELIVERY_RUNNERS
        if settings.CELERY_TASK_ALWAYS_EAGER or wanted <= 0:
            return  # no runners to hold back: a wake-up delivers in the caller's thread
        seconds = settings.BROADCAST_HOLD_SECONDS
        if self.holder is None:
            self.holder = wakeup.runner_lease(1, key=HOLDER_KEY, seconds=seconds)
            if self.holder is None:
                return
            if self.holder == wakeup.NO_REDIS:  # nothing counts the runners: nothing to hold
                self.holder = None
                return
        wakeup.renew_runner_lease(self.holder, key=HOLDER_KEY, seconds=seconds)
        for lease in self.leases:
            wakeup.renew_runner_lease(lease, seconds=seconds)
        # Runners at work keep their leases: the hold takes the places they leave.
        while len(self.leases) < wanted:
            taken = wakeup.runner_lease(settings.DISPATCH_RUNNERS, seconds=seconds)
            if taken is None or taken == wakeup.NO_REDIS:
                break
            self.leases.append(taken)

    def release(self) -> None:
        """Give the leases back and wake the runners for what was made meanwhile."""
        if self.holder is None:
            return
        for lease in self.leases:
            wakeup.release_runner_lease(lease)
        wakeup.release_runner_lease(self.holder, key=HOLDER_KEY)
        self.leases.clear()
        self.holder = None
        # One more runner even if one is at work (it holds the wake-up's key): the held places
        # are free again, and its full rounds wake the rest.
        wakeup.wake(extra=True)
