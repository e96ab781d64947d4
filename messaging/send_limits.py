"""Limits of a single send that every way in (the API, the Twilio-compatible API, the pages) applies."""

from datetime import timedelta

MAX_MEDIA = 10
MAX_SCHEDULE_AHEAD = timedelta(days=35)
