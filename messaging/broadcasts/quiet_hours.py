"""Quiet hours: each recipient's time zone, from the number, and when a message to them may go."""

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

_ZONE_BY_PREFIX: dict[tuple[str, str], str] = {}
ZONE_PREFIX_DIGITS = 8  # "+1415555": the country code and area code, which time zone data goes by


def _zone_name(phone_number: str, fallback: str) -> str:
    try:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(phone_number))
    except phonenumbers.NumberParseException:
        zones = ()
    known = [z for z in zones if z != phone_timezones.UNKNOWN_TIMEZONE]
    return known[0] if len(known) == 1 else fallback


def recipient_zone(phone_number: str, fallback: str) -> ZoneInfo:
    """The recipient's time zone from their number, or `fallback` when the number spans several.

    Time zone data goes by the leading digits (the area code in North America), so the answer is
    kept per prefix: parsing every number of a 100,000-contact broadcast would cost seconds."""
    key = (phone_number[:ZONE_PREFIX_DIGITS], fallback)
    name = _ZONE_BY_PREFIX.get(key)
    if name is None:
        name = _ZONE_BY_PREFIX[key] = _zone_name(phone_number, fallback)
        if len(_ZONE_BY_PREFIX) > 100_000:
            _ZONE_BY_PREFIX.clear()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _release_in(zone: ZoneInfo, at: datetime, start: time, end: time) -> datetime | None:
    local = at.astimezone(zone)
    now = local.time()
    overnight = start > end
    quiet = (now >= start or now < end) if overnight else (start <= now < end)
    if not quiet:
        return None
    day = local.date() if (not overnight or now < end) else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def _hh_mm(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def _quiet_bounds(quiet_hours: dict) -> tuple[time, time]:
    return _hh_mm(quiet_hours["start"]), _hh_mm(quiet_hours["end"])


def release_time(phone_number: str, at: datetime, quiet_hours: dict, fallback: str) -> datetime | None:
    """When a message to `phone_number` may go, if `at` falls in the recipient's quiet hours
    (None if it may go at `at`)."""
    return _release_in(recipient_zone(phone_number, fallback), at, *_quiet_bounds(quiet_hours))


def _release_times(at: datetime, quiet_hours: dict, fallback: str) -> Callable[[str], datetime | None]:
    """release_time for many numbers at one moment: the answer is the same for a whole zone."""
    start, end = _quiet_bounds(quiet_hours)
    by_zone: dict[str, datetime | None] = {}

    def release(phone_number: str) -> datetime | None:
        zone = recipient_zone(phone_number, fallback)
        if zone.key not in by_zone:
            by_zone[zone.key] = _release_in(zone, at, start, end)
        return by_zone[zone.key]

    return release
