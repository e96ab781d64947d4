"""Opaque, prefixed identifiers (`ws_…`, `msg_…`): never sequential, safe to show to clients."""

import secrets
import string

from django.db import models
from django.utils.deconstruct import deconstructible

_ALPHABET = string.ascii_letters + string.digits
ID_RANDOM_LENGTH = 22  # about 131 bits of randomness


# A random byte below 248 (4 × 62) is a character, the others are drawn again: each character is
# uniform and independent, so an id is uniform over the 62**22 of them.
_BYTE_TO_CHARACTER = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(248)) + bytes(8)
_DRAWN_AGAIN = bytes(range(248, 256))
_ONE_DRAW = ID_RANDOM_LENGTH + 8  # enough for one id but about once in 4 million draws


def new_id(prefix: str) -> str:
    # Random bytes mapped in one translate: half the cost of drawing one number below 62**22 and
    # writing it in base 62 (every message and carrier event makes one).
    characters = secrets.token_bytes(_ONE_DRAW).translate(_BYTE_TO_CHARACTER, _DRAWN_AGAIN)
    while len(characters) < ID_RANDOM_LENGTH:
        characters += secrets.token_bytes(_ONE_DRAW).translate(_BYTE_TO_CHARACTER, _DRAWN_AGAIN)
    return f"{prefix}_" + characters[:ID_RANDOM_LENGTH].decode("ascii")


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` ids like new_id's, for a batch: the random bytes are drawn and mapped at once, a
    fraction of new_id's cost per id."""
    wanted = count * ID_RANDOM_LENGTH
    characters = b""
    while len(characters) < wanted:
        missing = wanted - len(characters)
        characters += secrets.token_bytes(missing + missing // 24 + 16).translate(
            _BYTE_TO_CHARACTER, _DRAWN_AGAIN
        )
    text = characters[:wanted].decode("ascii")
    return [f"{prefix}_{text[i : i + ID_RANDOM_LENGTH]}" for i in range(0, wanted, ID_RANDOM_LENGTH)]


@deconstructible
class IdGenerator:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdGenerator) and other.prefix == self.prefix


class PrefixedIdField(models.CharField):
    """A primary key like `ws_3kTMd9…`, generated on creation."""

    def __init__(self, prefix: str = "", *args, **kwargs):
        self.prefix = prefix
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        kwargs["default"] = IdGenerator(prefix)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs
