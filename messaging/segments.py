"""How many SMS segments a body takes, and in which encoding.

GSM-7 holds 160 septets in one SMS and 153 per part of a concatenated one; the extension
characters take two septets (an escape and the character) and an escape pair is never split
across parts. Any character outside GSM-7 makes the whole message UCS-2: 70 UTF-16 code units in
one SMS, 67 per part, and a surrogate pair (an emoji, say) is never split either.
"""

import re
from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
MAX_BODY_CHARACTERS = 1600

_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str
    num_segments: int
    characters: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    units_per_segment: int


# Any character outside the basic GSM-7 table; and outside GSM-7 altogether.
_NOT_BASIC = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC))) + "]")
_NOT_GSM7 = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC | GSM7_EXTENSION))) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _unit_lengths(body: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in body]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def encoding_for(body: str) -> str:
    return UCS2 if _NOT_GSM7.search(body) else GSM7


def count_segments(body: str) -> SegmentInfo:
    # The common shapes, where every character is one unit (basic GSM-7 text, or UCS-2 text
    # without emoji), are counted by arithmetic; a regular expression scan decides which.
    if not _NOT_BASIC.search(body):
        return _uniform(GSM7, body)
    if _NOT_GSM7.search(body) and not _ASTRAL.search(body):
        return _uniform(UCS2, body)
    return _count_segments_by_unit(body)


def _uniform(encoding: str, body: str) -> SegmentInfo:
    single, multi = _LIMITS[encoding]
    units = len(body)
    if units <= single:
        return SegmentInfo(encoding, 1 if body else 0, units, units, single)
    return SegmentInfo(encoding, -(-units // multi), units, units, multi)


def _count_segments_by_unit(body: str) -> SegmentInfo:
    encoding = encoding_for(body)
    single, multi = _LIMITS[encoding]
    lengths = _unit_lengths(body, encoding)
    units = sum(lengths)
    if units <= single:
        return SegmentInfo(encoding, 1 if body else 0, len(body), units, single)
    segments, used = 1, 0
    for length in lengths:
        # A character's units stay together: if it does not fit, it starts the next part.
        if used + length > multi:
            segments += 1
            used = 0
        used += length
    return SegmentInfo(encoding, segments, len(body), units, multi)
