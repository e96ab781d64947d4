"""`manage.py smpp_binds`: the process that holds every SMPP account's bind (Procfile: smpp)."""

import logging
import signal
import sys

from django.core.management.base import BaseCommand

from numbers.providers.smpp.binds import BindManager

logger = logging.getLogger(__name__)

SWITCH_INTERVAL_SECONDS = 0.001


class Command(BaseCommand):
    help = "Hold the SMPP binds of every SMPP carrier account and send their queued messages."

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            type=int,
            action="append",
            dest="accounts",
            help="Only this provider account id (repeatable).",
        )

    def handle(self, *args, accounts=None, **options):
        # The bind's send loop shares the interpreter with the round and database threads: at
        # Python's default 5 ms switch interval every PDU the loop reads waits up to that long
        # behind a round building its write-back, and the window's round trips grow with it.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        manager = BindManager(account_ids=accounts)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: manager.stop())
        logger.info("SMPP bind process started")
        manager.run_forever()
        logger.info("SMPP bind process stopped")
