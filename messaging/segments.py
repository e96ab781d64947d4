"""How many SMS segments a body takes, and in which encoding.

GSM-7 holds 160 septets in one SMS and 153 per part of a concatenated one; the extension
characters take two septets (an escape and the character) and an escape pair is never split
across parts. Any character outside GSM-7 makes the whole message UCS-2: 70 UTF-16 code units in
one SMS, 67 per part, and a surrogate pair (an emoji, say) is never split either.
"""

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


def _unit_lengths(body: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in body]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body]


def encoding_for(body: str) -> str:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        return GSM7
    return UCS2


def count_segments(body: str) -> SegmentInfo:
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
