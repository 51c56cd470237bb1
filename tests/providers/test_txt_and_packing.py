"""What the adapters share, as pure functions: the TXT presentation format in both dialects (RFC 1035
decimal escapes for Cloud DNS, octal for Route 53) and the greedy packing of names into requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation_operator.dns.packing import pack_greedily
from federation_operator.dns.txt import Radix, parse_txt, render_txt, split_txt


@pytest.mark.parametrize(
    ("radix", "rendered"),
    [
        pytest.param(10, '"caf\\195\\169 \\"x\\" \\\\"', id="decimal"),
        pytest.param(8, '"caf\\303\\251 \\"x\\" \\\\"', id="octal"),
    ],
)
def test_one_value_in_either_dialect(radix: Radix, rendered: str) -> None:
    assert render_txt('café "x" \\', radix=radix) == rendered
    assert parse_txt(rendered, radix=radix) == 'café "x" \\'


def test_character_strings_hold_255_octets_and_an_empty_value_one_empty_string() -> None:
    assert [len(s) for s in split_txt("é" * 200)] == [255, 145]  # octets, not characters
    assert split_txt("") == [b""]


@given(st.text(), st.sampled_from([8, 10]))
def test_any_text_reads_back_as_written(text: str, radix: Radix) -> None:
    assert parse_txt(render_txt(text, radix=radix), radix=radix) == text


def test_groups_are_packed_in_order_and_a_group_too_big_for_any_request_is_refused() -> None:
    def add(request: list[int], group: int) -> bool:
        if sum(request) + group > 10:
            return False
        request.append(group)
        return True

    assert pack_greedily([4, 5, 2, 9, 1], new_request=list, add=add, too_big=ValueError) == [
        [4, 5],
        [2],
        [9, 1],
    ]
    with pytest.raises(ValueError, match="11"):
        pack_greedily([3, 11], new_request=list, add=add, too_big=lambda group: ValueError(str(group)))
