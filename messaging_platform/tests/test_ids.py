import re
from collections import Counter

from messaging_platform.ids import ID_RANDOM_LENGTH, new_id, new_ids

ID = re.compile(rf"msg_[A-Za-z0-9]{{{ID_RANDOM_LENGTH}}}")


def test_ids_made_in_a_batch_look_like_single_ones_and_never_repeat():
    batch = new_ids("msg", 5000)
    assert len(batch) == len(set(batch)) == 5000
    assert all(ID.fullmatch(i) for i in batch)
    assert ID.fullmatch(new_id("msg"))
    assert new_ids("msg", 0) == []


def test_every_character_of_a_batch_id_is_drawn_evenly():
    characters = Counter("".join(i[4:] for i in new_ids("msg", 20_000)))
    assert len(characters) == 62
    expected = 20_000 * ID_RANDOM_LENGTH / 62  # about 7,100 each
    # Far wider than chance (a standard deviation is about 84); a biased mapping is far outside.
    assert all(abs(n - expected) < 600 for n in characters.values())


def test_every_character_of_a_single_id_is_drawn_evenly_and_ids_never_repeat():
    ids = [new_id("msg") for _ in range(20_000)]
    assert len(set(ids)) == 20_000
    assert all(ID.fullmatch(i) for i in ids)
    characters = Counter("".join(i[4:] for i in ids))
    assert len(characters) == 62
    expected = 20_000 * ID_RANDOM_LENGTH / 62
    assert all(abs(n - expected) < 600 for n in characters.values())
    positions = Counter(i[4] for i in ids)  # the first character too: no position is favoured
    assert len(positions) == 62 and all(abs(n - 20_000 / 62) < 130 for n in positions.values())
