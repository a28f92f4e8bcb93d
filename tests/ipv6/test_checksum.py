"""The Internet checksum and its incremental update, against a plain loop over the words."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ipv6._checksum import adjust, checksum, word_sum


def loop_checksum(data: bytes) -> int:
    """RFC 1071's loop, written the slow way."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@given(st.binary(max_size=300))
def test_checksum_equals_the_loop(data: bytes) -> None:
    assert checksum(data) == loop_checksum(data)


@given(st.binary(min_size=2, max_size=300).filter(lambda d: len(d) % 2 == 0), st.data())
def test_adjust_equals_checksum_of_the_changed_data(data: bytes, draw: st.DataObject) -> None:
    """Change a word range; the adjusted checksum verifies the new data as a fresh one does."""
    start = draw.draw(st.integers(0, len(data) // 2 - 1)) * 2
    new = draw.draw(st.binary(min_size=2, max_size=2))
    changed = data[:start] + new + data[start + 2 :]
    csum = adjust(checksum(data), word_sum(new) - word_sum(data[start : start + 2]))
    assert loop_checksum(changed + csum.to_bytes(2, "big")) == 0  # it verifies
    assert csum != 0  # and is never UDP's "no checksum"
