"""SMPP 3.4 PDUs through smpplib's codec, and what the platform reads into and out of them:
message bodies split into parts by the preview's segment rules, delivery receipts, error codes.

smpplib encodes and decodes every PDU; nothing here packs PDU bytes by hand. (Its `.sequence`
keyword is ignored when a PDU is made, so `make` sets it afterwards.)
"""

from __future__ import annotations

import contextlib
import functools
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smpplib import command_codes, consts, gsm, smpp

from messaging.segments import GSM7, GSM7_BASIC, GSM7_EXTENSION, count_segments

HEADER = struct.Struct(">LLLL")  # command_length, command_id, command_status, sequence_number
MAX_PDU_LENGTH = 65536  # a larger command_length is a broken stream, not a message

DATA_CODING_DEFAULT = 0x00  # the SMSC's default alphabet: GSM-7 septets, one per octet
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40
ESM_CLASS_RECEIPT = 0x04  # deliver_sm carrying an SMSC delivery receipt
ESM_CLASS_TYPE_MASK = 0x3C
REGISTERED_DELIVERY_FINAL = 0x01  # a receipt on success or failure

# command_status values (SMPP 3.4 section 5.1.3)
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RINVESMCLASS = 0x43
ESME_RSUBMITFAIL = 0x45
ESME_RINVSRCTON = 0x48
ESME_RINVDSTTON = 0x50
ESME_RTHROTTLED = 0x58
ESME_RQUERYFAIL = 0x67
ESME_RX_T_APPN = 0x64
ESME_RINVDCS = 0x104
ESME_RUNKNOWNERR = 0xFF

# Retried on the same bind at its pace, without counting an attempt.
THROTTLING_STATUSES = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})
# The SMSC refused the message itself: sending it again cannot help.
PERMANENT_STATUSES = frozenset(
    {
        ESME_RINVMSGLEN,
        ESME_RINVSRCADR,
        ESME_RINVDSTADR,
        ESME_RINVESMCLASS,
        ESME_RINVSRCTON,
        ESME_RINVDSTTON,
        ESME_RINVDCS,
        0x65,
        0x66,
        0x49,
        0x51,
        0x61,
        0x62,
        0x63,
    }
)
AUTH_STATUSES = frozenset({ESME_RINVPASWD, ESME_RINVSYSID, ESME_RBINDFAIL})


def status_name(status: int) -> str:
    """ESME_RTHROTTLED and the like, for error codes and logs."""
    for name, value in vars(consts).items():
        if name.startswith("SMPP_ESME_") and value == status:
            return "ESME_" + name[len("SMPP_ESME_") :]
    return f"0x{status:08X}"


def status_description(status: int) -> str:
    return consts.DESCRIPTIONS.get(status, f"SMPP command_status 0x{status:08X}")


class Sequencer:
    """Sequence numbers 1…0x7FFFFFFF, wrapping (smpplib's PDUs ask a 'client' for them)."""

    def __init__(self) -> None:
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        return self.sequence


def make(
    command: str, sequencer: Sequencer, *, sequence: int | None = None, status: int = 0, **fields: Any
) -> Any:
    """A PDU ready to `generate()`: a request takes the next sequence number, a response the
    request's. The commands of a bind's steady traffic (submit_sm, deliver_sm and their
    responses, enquire_link, generic_nack) are copied from a blank smpplib PDU made once, and
    generate only their mandatory fields and the TLVs they were given (smpplib encodes each
    field; building a PDU from scratch and walking its forty unset TLVs was most of the cost)."""
    if command not in _FAST_COMMANDS:
        pdu = smpp.make_pdu(command, client=sequencer, **fields)
        if sequence is not None:
            pdu.sequence = sequence
        pdu.status = status
        return pdu
    pdu = _blank(command)
    for key, value in fields.items():
        setattr(pdu, key, value)
    pdu.params_order = _order(command, frozenset(fields))
    pdu.sequence = sequencer.next_sequence() if sequence is None else sequence
    pdu.status = status
    return pdu


# The commands made and read from a blank copy: those of a bound session's steady traffic, none
# whose smpplib constructor sets fields of its own beyond the blanks (bind_* force
# interface_version).
_FAST_COMMANDS = frozenset(
    {
        "submit_sm",
        "submit_sm_resp",
        "deliver_sm",
        "deliver_sm_resp",
        "data_sm",
        "data_sm_resp",
        "enquire_link",
        "enquire_link_resp",
        "generic_nack",
        "query_sm",
        "query_sm_resp",
        "unbind",
        "unbind_resp",
    }
)
_COMMAND_NAMES = {code: name for name, code in command_codes.commands.items()}
_PROTOTYPES: dict[str, Any] = {}
_ORDERS: dict[tuple[str, frozenset[str]], tuple[str, ...]] = {}


def _blank(command: str) -> Any:
    """A fresh copy of smpplib's PDU for `command` as its constructor leaves it (every field
    blank), without running the constructor again."""
    prototype = _PROTOTYPES.get(command)
    if prototype is None:
        prototype = smpp.make_pdu(command, client=Sequencer())
        # smpplib's generate_params and parse_params ask field_is_optional of every field (two
        # hasattr and a look-up in a list each, a third of the coding's CPU): the same answers,
        # taken once per command from that method, as a set look-up copied with the blank.
        optional = frozenset(
            name for name in type(prototype).params_order if prototype.field_is_optional(name)
        )
        prototype.field_is_optional = optional.__contains__
        _PROTOTYPES[command] = prototype
    pdu = object.__new__(type(prototype))
    pdu.__dict__.update(prototype.__dict__)
    return pdu


def _order(command: str, given: frozenset[str]) -> tuple[str, ...]:
    """The fields smpplib's generate_params walks for this PDU: every mandatory one, and the
    optional ones (TLVs) that are given or set by default, in smpplib's order. Those left out
    would encode to nothing."""
    order = _ORDERS.get((command, given))
    if order is None:
        prototype = _PROTOTYPES[command]
        order = _ORDERS[(command, given)] = tuple(
            name
            for name in type(prototype).params_order
            if not prototype.field_is_optional(name)
            or name in given
            or getattr(prototype, name, None) is not None
        )
    return order


def encode(command: str, sequencer: Sequencer, **kwargs: Any) -> tuple[int, bytes]:
    pdu = make(command, sequencer, **kwargs)
    return pdu.sequence, pdu.generate()


class PduError(Exception):
    """A PDU that cannot be read; `status` is the generic_nack to answer with."""

    def __init__(self, message: str, *, status: int, sequence: int = 0):
        super().__init__(message)
        self.status = status
        self.sequence = sequence


def decode(data: bytes) -> Any:
    """One complete PDU (header included) into a smpplib command object: the header as
    smpplib's `PDU.parse` reads it, the body by its `parse_params`. The command is looked up in
    a dict made from smpplib's table (its own look-up walks the table), the object copied from a
    blank one for the steady traffic's commands."""
    length, command_id, status, sequence = HEADER.unpack_from(data)
    name = _COMMAND_NAMES.get(command_id)
    if name is None:
        raise PduError(f"unknown command_id 0x{command_id:08X}", status=ESME_RINVCMDID, sequence=sequence)
    try:
        if name in _FAST_COMMANDS:
            pdu = _blank(name)
            pdu.length, pdu.command, pdu.status, pdu.sequence = length, name, status, sequence
            if len(data) > HEADER.size:
                pdu.parse_params(data[HEADER.size :])
        else:
            pdu = smpp.parse_pdu(data, client=Sequencer())
    except Exception as exc:  # smpplib raises struct.error, IndexError, its own errors…
        raise PduError(f"malformed {name}: {exc!r}", status=ESME_RINVMSGLEN, sequence=sequence) from None
    if name in ("submit_sm", "deliver_sm") and not _short_message_fits(data[HEADER.size :]):
        raise PduError(f"truncated {name}", status=ESME_RINVMSGLEN, sequence=sequence)
    return pdu


# The mandatory fields of submit_sm / deliver_sm up to sm_length: C-strings (c) and octets (1).
_SHORT_MESSAGE_LAYOUT = "c11c11c111cc1111"


def _short_message_fits(body: bytes) -> bool:
    """Whether the body holds every mandatory field and the sm_length octets it announces.
    smpplib reads past the end of a truncated PDU without complaint (slices are forgiving)."""
    position = 0
    for kind in _SHORT_MESSAGE_LAYOUT:
        if kind == "c":
            end = body.find(b"\x00", position)
            if end < 0:
                return False
            position = end + 1
        else:
            position += 1
    if position >= len(body):
        return False
    return position + 1 + body[position] <= len(body)


def text(value: object) -> str:
    """A C-octet string field as smpplib parses it (bytes) or was given it (str)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


# Bodies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    short_message: bytes  # the UDH (if any) and the encoded text
    data_coding: int
    esm_class: int


def _gsm7_char(ch: str) -> bytes:
    # smpplib's GSM table lacks the form feed of the extension table.
    return b"\x1b\x0a" if ch == "\f" else gsm.gsm_encode(ch)


def _gsm7_table() -> tuple[dict[int, str], frozenset[str]]:
    table = {}
    for ch in GSM7_BASIC | GSM7_EXTENSION:
        with contextlib.suppress(UnicodeError, ValueError):
            table[ord(ch)] = _gsm7_char(ch).decode("latin-1")
    return table, frozenset(chr(code) for code in table)


_GSM7_TABLE, _GSM7_CHARS = _gsm7_table()


def _gsm7_bytes(body: str) -> bytes:
    """smpplib's GSM-7 encoding of each character, in one str.translate for the whole body."""
    if _GSM7_CHARS.issuperset(body):
        return body.translate(_GSM7_TABLE).encode("latin-1")
    return b"".join(_gsm7_char(ch) for ch in body)


def _ucs2_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def split_body(body: str, *, reference: int) -> list[Part]:
    """The submit_sm parts of a body, split where the preview (messaging/segments.py) counts its
    segments: 160/153 GSM-7 septets (an escape pair never split), 70/67 UCS-2 units (a surrogate
    pair never split). Several parts carry an 8-bit concatenation UDH with `reference`."""
    info = count_segments(body)
    encode_chars: Callable[[str], bytes]
    if info.encoding == GSM7:
        coding, encode_chars = DATA_CODING_DEFAULT, _gsm7_bytes

        def units(ch: str) -> int:
            return 2 if ch in GSM7_EXTENSION else 1
    else:
        coding, units = DATA_CODING_UCS2, _ucs2_units

        def encode_chars(chunk: str) -> bytes:
            return chunk.encode("utf-16-be")

    if info.num_segments <= 1:
        return [Part(encode_chars(body), coding, 0)]
    chunks: list[str]
    current: list[str]
    chunks, current, used = [], [], 0
    for ch in body:
        if used + units(ch) > info.units_per_segment:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += units(ch)
    chunks.append("".join(current))
    total = len(chunks)
    return [
        Part(
            bytes((0x05, 0x00, 0x03, reference & 0xFF, total, index)) + encode_chars(chunk),
            coding,
            ESM_CLASS_UDHI,
        )
        for index, chunk in enumerate(chunks, start=1)
    ]


def decode_short_message(data: bytes, data_coding: int) -> str:
    """An MO message's text: UCS-2, Latin-1 / 8-bit, or the default alphabet (GSM-7 unpacked;
    many SMSCs send ASCII there, which GSM-7 mostly agrees with)."""
    coding = data_coding & 0x0F if data_coding & 0xF0 in (0x00, 0xF0) else data_coding
    if data_coding == DATA_CODING_UCS2 or coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding in (0x03, 0x04):  # Latin-1, 8-bit binary
        return data.decode("latin-1")
    return _gsm7_text(data)


_GSM_BASIC = gsm.GSM_CHARACTER_TABLE[:128]
_GSM_EXTENDED = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}


# The basic table as a str.translate table (latin-1 code point -> GSM-7 character).
_GSM_BASIC_TRANSLATION = {index: ch for index, ch in enumerate(_GSM_BASIC)}


def _gsm7_text(data: bytes) -> str:
    if data.isascii() and b"\x1b" not in data:  # most texts: one translate, no escapes
        return data.decode("latin-1").translate(_GSM_BASIC_TRANSLATION)
    out, escape = [], False
    for byte in data:
        if escape:
            out.append(_GSM_EXTENDED.get(byte, " "))
            escape = False
        elif byte == 0x1B:
            escape = True
        elif byte < 128:
            out.append(_GSM_BASIC[byte])
        else:
            out.append("?")
    return "".join(out)


@dataclass(frozen=True)
class Concatenation:
    reference: int
    total: int
    index: int


def split_udh(short_message: bytes, esm_class: int) -> tuple[Concatenation | None, bytes]:
    """The concatenation header of an MO part (8- or 16-bit reference), and the text after the UDH."""
    if not esm_class & ESM_CLASS_UDHI or not short_message:
        return None, short_message
    udh_length = short_message[0]
    udh, rest = short_message[1 : 1 + udh_length], short_message[1 + udh_length :]
    if len(udh) < udh_length:
        raise ValueError("UDH longer than the message")
    position, found = 0, None
    while position + 2 <= len(udh):
        iei, length = udh[position], udh[position + 1]
        value = udh[position + 2 : position + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            found = Concatenation(value[0], value[1], value[2])
        elif iei == 0x08 and length == 4 and len(value) == 4:
            found = Concatenation(value[0] << 8 | value[1], value[2], value[3])
        position += 2 + length
    if found is not None and not (1 <= found.index <= found.total):
        raise ValueError(f"concatenation part {found.index} of {found.total}")
    return found, rest


# Receipts -------------------------------------------------------------------------------------

_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err)\s*:\s*(\S*)", re.IGNORECASE)
# message_state TLV values (SMPP 3.4 section 5.3.2.35) as receipt stat words
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
# A receipt's stat onto a platform status; None: not final, nothing to change.
RECEIPT_STATUSES = {
    "DELIVRD": "delivered",
    "DELIVERED": "delivered",
    "ACCEPTD": "delivered",
    "UNDELIV": "undelivered",
    "UNDELIVERABLE": "undelivered",
    "EXPIRED": "undelivered",
    "UNKNOWN": "undelivered",
    "DELETED": "failed",
    "REJECTD": "failed",
    "REJECTED": "failed",
    "ENROUTE": None,
    "BUFFERED": None,
    "SCHEDULED": None,
}
RECEIPT_MEANINGS = {
    "UNDELIV": "Undeliverable",
    "EXPIRED": "Validity period expired before delivery",
    "UNKNOWN": "The SMSC does not know the outcome",
    "DELETED": "Deleted at the SMSC",
    "REJECTD": "Rejected by the SMSC or the network",
}


@dataclass(frozen=True)
class Receipt:
    smsc_id: str  # as the receipt spells it
    stat: str  # DELIVRD, UNDELIV, …
    error: str  # the receipt's err: field or network_error_code TLV, "" when none

    @property
    def status(self) -> str | None:
        return RECEIPT_STATUSES.get(self.stat, "undelivered" if self.stat else None)

    @property
    def error_code(self) -> str | None:
        if self.status in (None, "delivered"):
            return None
        if self.error and self.error.strip("0"):
            return f"{self.stat}:{self.error}"[:16]
        return self.stat[:16]

    @property
    def error_message(self) -> str | None:
        if self.status in (None, "delivered"):
            return None
        meaning = RECEIPT_MEANINGS.get(self.stat, self.stat)
        return f"{meaning} (SMSC error {self.error})" if self.error and self.error.strip("0") else meaning


def is_receipt(pdu: Any) -> bool:
    esm_class = getattr(pdu, "esm_class", 0) or 0
    return esm_class & ESM_CLASS_TYPE_MASK == ESM_CLASS_RECEIPT or bool(
        getattr(pdu, "receipted_message_id", None)
    )


def parse_receipt(pdu: Any) -> Receipt:
    """A deliver_sm receipt: the TLVs (receipted_message_id, message_state, network_error_code)
    win over the text form `id:… stat:… err:…`. ValueError when it names no message or state."""
    fields = {
        key.lower(): value for key, value in _RECEIPT_FIELD.findall(text(getattr(pdu, "short_message", b"")))
    }
    smsc_id = text(getattr(pdu, "receipted_message_id", None)).strip("\x00 ") or fields.get("id", "")
    state = getattr(pdu, "message_state", None)
    stat = (MESSAGE_STATES.get(state) if isinstance(state, int) else None) or fields.get("stat", "")
    error = fields.get("err", "")
    network_error = getattr(pdu, "network_error_code", None)
    if isinstance(network_error, bytes) and len(network_error) == 3:
        error = str(int.from_bytes(network_error[1:], "big"))
    if not smsc_id or not stat:
        raise ValueError("delivery receipt without a message id or a state")
    if len(smsc_id) > 65:
        raise ValueError("delivery receipt with a message id over 65 characters")
    return Receipt(smsc_id=smsc_id, stat=stat.upper(), error=error[:8])


_HEX_ID = re.compile(r"[0-9a-f]{1,32}")
_DECIMAL_ID = re.compile(r"[0-9]{1,38}")


@functools.lru_cache(maxsize=65536)
def id_forms(smsc_id: str) -> tuple[str, str | None, str | None]:
    """An SMSC message id in the forms it may come back in: as given (lower case, no leading
    zeros), read as hex and written in decimal, read as decimal and written in hex. SMSCs answer
    submit_sm in one and write receipts in the other often enough (Jasmin's unmatched receipts).
    Kept for the ids in flight: each is asked for at its answer, its write, its receipt."""
    exact = smsc_id.strip().lower().lstrip("0") or "0"
    as_decimal = str(int(exact, 16)) if _HEX_ID.fullmatch(exact) else None
    as_hex = format(int(exact), "x") if _DECIMAL_ID.fullmatch(exact) else None
    return exact, as_decimal, as_hex


def sender_address(sender: str) -> tuple[int, int, str]:
    """(TON, NPI, address) for a sender: international E.164, a short code, or alphanumeric."""
    if sender.startswith("+") and sender[1:].isdigit():
        return 1, 1, sender[1:]  # international, ISDN
    if sender.isdigit():
        return (3, 0, sender) if len(sender) <= 8 else (1, 1, sender)  # network-specific short code
    return 5, 0, sender[:11]  # alphanumeric


def destination_address(number: str) -> tuple[int, int, str]:
    return (1, 1, number[1:]) if number.startswith("+") else (1, 1, number)


def e164(address: str, ton: int) -> str:
    """An MO address as the platform writes numbers: '+' and digits for international ones."""
    if address.isdigit() and (ton == 1 or len(address) > 8):
        return "+" + address
    return address


def count_parts(body: str) -> int:
    return max(1, count_segments(body).num_segments)
