import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinglian.core.uscc import ALPHABET, check_character, uscc_problem

pytestmark = pytest.mark.usefixtures("english")


def test_a_published_code_is_valid():
    assert uscc_problem("91350100M000100Y43") is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y4I", "cannot appear"),
        ("01350100M000100Y43", "registration authority"),
        ("913A0100M000100Y43", "region"),
        ("91350100M000100Y44", "expected 3, got 4"),
    ],
)
def test_invalid_codes_say_why(code, reason):
    assert reason in (uscc_problem(code) or "")


first17 = st.tuples(
    st.sampled_from("123456789ABCDEFGNY"),
    st.text(ALPHABET, min_size=1, max_size=1),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(ALPHABET, min_size=9, max_size=9),
).map("".join)


@given(first17, st.sampled_from(ALPHABET))
def test_exactly_one_check_character_is_accepted(body, last):
    code = body + last
    assert (uscc_problem(code) is None) == (last == check_character(body))
