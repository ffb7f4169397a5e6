"""``core.text.inert`` returns printable ASCII untouched without looking at each character
(issue 12, point 7: the key table formats 10,000 names, groups and notes on the first
paint); every other string still goes through the full sanitiser, with the same result."""

from __future__ import annotations

import itertools
import unicodedata

from pplx_tui.core.text import _ANSI_RE, inert, one_line


def _reference(text: str) -> str:
    """The sanitiser without the fast path."""
    text = _ANSI_RE.sub("", text)
    return "".join(
        ch
        if (ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf"))
        else "\N{REPLACEMENT CHARACTER}"
        for ch in text
    )


def test_inert_equals_the_reference_on_every_pair_of_characters_around_ascii() -> None:
    alphabet = [chr(c) for c in range(0, 0xA0)] + ["\u200b", "\u202e", "é", "\u2028"]
    for pair in itertools.product(alphabet, repeat=2):
        text = "".join(pair)
        assert inert(text) == _reference(text), repr(text)


def test_escape_sequences_are_still_removed() -> None:
    for text in ("\x1b[31mred\x1b[0m", "a\x1b]0;title\x07b", "tab\there", "bell\x07", "\x9b2J"):
        assert inert(text) == _reference(text)
        assert "\x1b" not in inert(text)
    assert one_line("plain-name 42") == "plain-name 42"
    assert one_line("two  spaces\nand a line") == "two spaces and a line"
