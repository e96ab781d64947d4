"""What the SMPP adapter reads and writes inside PDUs: parts split where the preview counts
segments, receipts in text and TLV form, SMSC ids in hex and decimal, MO text and UDH."""

import pytest

from messaging.segments import count_segments
from numbers.providers.smpp import codec


@pytest.mark.parametrize(
    "body",
    [
        "Hello",
        "x" * 160,
        "x" * 161,
        "x" * 459,
        "€" * 80,
        "a€" * 60,
        "Grüße",
        "ä" * 153 + "€",
        "日本語" * 30,
        "👋" * 40,
        "a" + "👋" * 34,
        "[" * 77,
        "{" + "x" * 152,
    ],
)
def test_parts_follow_the_preview_segment_count(body):
    parts = codec.split_body(body, reference=7)
    info = count_segments(body)
    assert len(parts) == info.num_segments
    text = ""
    for index, part in enumerate(parts, start=1):
        concat, payload = codec.split_udh(part.short_message, part.esm_class)
        if len(parts) > 1:
            assert (concat.reference, concat.total, concat.index) == (7, len(parts), index)
            assert part.esm_class == codec.ESM_CLASS_UDHI
        else:
            assert concat is None and part.esm_class == 0
        expected_coding = codec.DATA_CODING_DEFAULT if info.encoding == "GSM-7" else codec.DATA_CODING_UCS2
        assert part.data_coding == expected_coding
        assert len(payload) <= (160 if info.encoding == "GSM-7" else 140)
        text += codec.decode_short_message(payload, part.data_coding)
    assert text == body


def test_an_escape_pair_is_never_split():
    parts = codec.split_body("x" * 152 + "€" + "y" * 10, reference=1)
    first = codec.split_udh(parts[0].short_message, parts[0].esm_class)[1]
    assert not first.endswith(b"\x1b") and len(first) == 152


def receipt_pdu(**fields):
    return codec.make(
        "deliver_sm", codec.Sequencer(), source_addr="14155552671", destination_addr="12025550188", **fields
    )


def roundtrip(pdu):
    return codec.decode(pdu.generate())


def test_text_receipt():
    pdu = roundtrip(
        receipt_pdu(
            esm_class=4,
            short_message=(
                b"id:0001A2B3 sub:001 dlvrd:000 submit date:2612011000 done date:2612011001 "
                b"stat:UNDELIV err:011 text:Hello"
            ),
        )
    )
    assert codec.is_receipt(pdu)
    receipt = codec.parse_receipt(pdu)
    assert (receipt.smsc_id, receipt.stat, receipt.status) == ("0001A2B3", "UNDELIV", "undelivered")
    assert receipt.error_code == "UNDELIV:011" and "011" in receipt.error_message


def test_tlv_receipt_wins_over_the_text():
    pdu = roundtrip(
        receipt_pdu(
            esm_class=4, short_message=b"id:999 stat:UNDELIV", receipted_message_id="abc123", message_state=2
        )
    )
    receipt = codec.parse_receipt(pdu)
    assert (receipt.smsc_id, receipt.stat, receipt.status, receipt.error_code) == (
        "abc123",
        "DELIVRD",
        "delivered",
        None,
    )


@pytest.mark.parametrize(
    ("stat", "status"),
    [
        ("DELIVRD", "delivered"),
        ("ACCEPTD", "delivered"),
        ("UNDELIV", "undelivered"),
        ("EXPIRED", "undelivered"),
        ("UNKNOWN", "undelivered"),
        ("REJECTD", "failed"),
        ("DELETED", "failed"),
        ("ENROUTE", None),
    ],
)
def test_receipt_states_map_onto_statuses(stat, status):
    assert codec.Receipt("1", stat, "000").status == status


@pytest.mark.parametrize("short_message", [b"", b"garbage", b"id: stat:DELIVRD", b"id:12 done"])
def test_a_receipt_without_id_or_state_is_refused(short_message):
    with pytest.raises(ValueError):
        codec.parse_receipt(roundtrip(receipt_pdu(esm_class=4, short_message=short_message)))


def test_id_forms_match_hex_and_decimal_spellings():
    assert codec.id_forms("0001A2B3") == ("1a2b3", "107187", None)
    assert codec.id_forms("107187") == ("107187", str(int("107187", 16)), "1a2b3")
    assert codec.id_forms("msg-42") == ("msg-42", None, None)


def test_mo_udh_and_encodings():
    concat, rest = codec.split_udh(bytes.fromhex("0608040102020168656c6c6f"), codec.ESM_CLASS_UDHI)
    assert (concat.reference, concat.total, concat.index, rest) == (0x0102, 2, 1, b"hello")
    assert codec.decode_short_message("Grüße".encode("utf-16-be"), 8) == "Grüße"
    assert codec.decode_short_message(b"caf\xe9", 3) == "café"
    assert codec.decode_short_message(b"\x1b\x65 5", 0) == "€ 5"
    with pytest.raises(ValueError):
        codec.split_udh(bytes.fromhex("0a0003"), codec.ESM_CLASS_UDHI)
    with pytest.raises(ValueError):
        codec.split_udh(bytes.fromhex("050003010203") + b"x", codec.ESM_CLASS_UDHI)


def test_addresses():
    assert codec.sender_address("+12025550188") == (1, 1, "12025550188")
    assert codec.sender_address("12345") == (3, 0, "12345")
    assert codec.sender_address("ACME") == (5, 0, "ACME")
    assert codec.e164("14155552671", 1) == "+14155552671"
    assert codec.e164("12345", 3) == "12345"


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("00000010000000AA0000000000000001"),  # unknown command
        bytes.fromhex("0000001400000004000000000000000141424344"),  # truncated submit_sm
    ],
)
def test_unreadable_pdus_are_a_pdu_error_with_the_nack_status(data):
    with pytest.raises(codec.PduError) as caught:
        codec.decode(data)
    assert caught.value.status in (codec.ESME_RINVCMDID, codec.ESME_RINVMSGLEN)
    assert caught.value.sequence == 1


_SAME_BYTES = [
    ("submit_sm", {}),
    (
        "submit_sm",
        {
            "source_addr_ton": 5,
            "source_addr": "Acme",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "14155552671",
            "esm_class": 0x40,
            "data_coding": 8,
            "short_message": b"\x05\x00\x03\x07\x02\x01" + "日本".encode("utf-16-be"),
            "registered_delivery": 1,
        },
    ),
    ("submit_sm_resp", {"message_id": "0A1B2C"}),
    ("submit_sm_resp", {}),
    (
        "deliver_sm",
        {
            "source_addr": "14155552671",
            "destination_addr": "12025550188",
            "esm_class": 4,
            "short_message": b"id:1 stat:DELIVRD err:000",
            "receipted_message_id": "1",
            "message_state": 2,
        },
    ),
    (
        "deliver_sm",
        {"source_addr": "1", "destination_addr": "2", "sar_msg_ref_num": 9, "sar_total_segments": 2},
    ),
    ("deliver_sm_resp", {}),
    ("enquire_link", {}),
    ("enquire_link_resp", {}),
    ("generic_nack", {}),
    ("query_sm", {"message_id": "AB12", "source_addr": "12025550188"}),
    ("query_sm_resp", {"message_id": "AB12", "final_date": "", "message_state": 5, "error_code": 11}),
    ("unbind", {}),
    ("bind_transceiver", {"system_id": "esme", "password": "pw", "interface_version": 0x34}),
]


@pytest.mark.parametrize(("command", "fields"), _SAME_BYTES)
@pytest.mark.parametrize("status", [0, codec.ESME_RTHROTTLED])
def test_pdus_are_the_bytes_smpplib_makes_and_read_back_alike(command, fields, status):
    """make / decode take shorter paths through smpplib for a bind's steady traffic: the bytes and
    the parsed fields are what smpplib's own make_pdu / parse_pdu give."""
    from smpplib import smpp

    ours = codec.make(command, codec.Sequencer(), sequence=77, status=status, **fields)
    theirs = smpp.make_pdu(command, client=codec.Sequencer(), **fields)
    theirs.sequence, theirs.status = 77, status
    data = theirs.generate()
    assert ours.generate() == data
    parsed, reference = codec.decode(data), smpp.parse_pdu(data, client=codec.Sequencer())
    assert (parsed.command, parsed.status, parsed.sequence) == (command, status, 77)
    for name in reference.params:
        assert getattr(parsed, name) == getattr(reference, name), name
    assert parsed.is_response() == reference.is_response()


def test_requests_take_the_next_sequence_numbers():
    sequencer = codec.Sequencer()
    first, _ = codec.encode("submit_sm", sequencer, destination_addr="1")
    second, data = codec.encode("enquire_link", sequencer)
    assert (first, second) == (1, 2) and codec.decode(data).sequence == 2


@pytest.mark.parametrize(
    "data",
    [b"", b"Hello @ world", bytes(range(128)), b"\x1b\x65 and \x1b\x3c", b"\x80\xff ascii", b"\x1b"],
)
def test_gsm7_text_reads_every_septet_as_the_table_says(data):
    expected, escape = [], False
    for byte in data:
        if escape:
            expected.append(codec._GSM_EXTENDED.get(byte, " "))
            escape = False
        elif byte == 0x1B:
            escape = True
        else:
            expected.append(codec._GSM_BASIC[byte] if byte < 128 else "?")
    assert codec.decode_short_message(data, 0) == "".join(expected)
