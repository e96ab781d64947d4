import pytest

from messaging.segments import GSM7, UCS2, count_segments

CASES = [
    # body, encoding, segments
    ("", GSM7, 0),
    ("Hello", GSM7, 1),
    ("a" * 160, GSM7, 1),
    ("a" * 161, GSM7, 2),
    ("a" * 306, GSM7, 2),
    ("a" * 307, GSM7, 3),
    ("a" * 1530, GSM7, 10),
    ("€" * 80, GSM7, 1),  # extension characters count twice: 160 septets
    ("€" * 81, GSM7, 2),
    ("a" * 159 + "€", GSM7, 2),  # 161 septets
    ("a" * 152 + "{" + "a" * 10, GSM7, 2),  # the escape pair would straddle: moves to part 2
    ("a" * 151 + "{" + "a" * 153, GSM7, 2),  # exactly 153 then 153
    ("a" * 152 + "[" + "a" * 152, GSM7, 3),  # 152 | 2+151 | 1
    ("Café £5 @ Ünïcödé", UCS2, 1),  # ï is not GSM-7
    ("Café £5 @ Ü", GSM7, 1),  # é, £, Ü are GSM-7
    ("ç", UCS2, 1),  # only capital Ç is GSM-7
    ("x" * 70 + "😀", UCS2, 2),  # emoji: two UTF-16 units
    ("😀" * 35, UCS2, 1),  # 70 units
    ("😀" * 36, UCS2, 2),
    ("a" * 66 + "😀" + "a" * 66, UCS2, 3),  # 134 units, but the surrogate pair is not split
    ("Привет" * 12, UCS2, 2),  # 72 characters
    ("a" * 70 * 1 + "й", UCS2, 2),
    ("\n\r", GSM7, 1),
    ("\t", UCS2, 1),  # tab is not GSM-7
    ("`", UCS2, 1),  # nor is the backtick
]


@pytest.mark.parametrize("body, encoding, segments", CASES)
def test_it_counts_segments_and_encoding_for_tricky_bodies(body, encoding, segments):
    info = count_segments(body)
    assert (info.encoding, info.num_segments) == (encoding, segments)


def test_it_reports_characters_and_units():
    info = count_segments("€uro")
    assert info.characters == 4
    assert info.units == 5
    assert info.units_per_segment == 160


# The arithmetic fast path for the common shapes agrees with counting unit by unit.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from messaging.segments import GSM7_BASIC, _count_segments_by_unit  # noqa: E402

_common_bodies = st.one_of(
    st.text(st.sampled_from(sorted(GSM7_BASIC)), max_size=1600),
    st.text(st.sampled_from(sorted(GSM7_BASIC)), min_size=150, max_size=470),
    st.text(st.sampled_from(list("abc ïйΩ中ü")), max_size=700),
    st.text(st.sampled_from(list("ab{€😀й")), max_size=400),
    st.text(max_size=400),
)


@settings(derandomize=True, deadline=None, max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(_common_bodies)
def test_the_fast_path_agrees_with_counting_unit_by_unit(body):
    assert count_segments(body) == _count_segments_by_unit(body)
