"""The API's JSON parser: orjson, with a bound on nesting that no real request comes near.

The standard library's parser recurses once per level, so `[` * 10000 was a RecursionError (a 500
and a traceback per request) before any view ran. orjson refuses more than 1024 levels itself, and
what a view does with deep data later (the idempotency fingerprint, DRF's validation) recurses
too, so anything nested deeper than MAX_DEPTH is refused here as malformed (400 invalid_params).
"""

import codecs
from collections.abc import Iterable
from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def nesting_exceeds(data, limit: int = MAX_DEPTH) -> bool:
    """True when `data` holds containers more than `limit` levels deep (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(raw: bytes):
    """Parse a JSON request body, or raise ParseError (malformed, too deep, not UTF-8)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    # Counting brackets is a C-speed scan; only a body with many of them is walked.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nesting_exceeds(data):
        raise ParseError(f"JSON nested more than {MAX_DEPTH} levels deep.")
    return data


class OrjsonParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        if codecs.lookup(encoding).name != "utf-8":
            try:
                raw = raw.decode(encoding).encode()
            except (UnicodeError, LookupError) as exc:
                raise ParseError(f"JSON parse error - {exc}") from None
        return loads(raw)
