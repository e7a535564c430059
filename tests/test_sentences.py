from __future__ import annotations

import pytest

from ingest.sentences import MAX_SENTENCE_CHARS, split_sentences


def _texts(text: str, start: int = 0, end: int | None = None) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, start, end)]


def test_abbreviations_and_amounts_do_not_end_sentences() -> None:
    text = (
        "Net sales were $1.5 billion in fiscal 2018 vs. $1.2 billion in the U.S. market. "
        "See Note 3. The Company (3M) grew 5.1%."
    )
    assert _texts(text) == [
        "Net sales were $1.5 billion in fiscal 2018 vs. $1.2 billion in the U.S. market.",
        "See Note 3.",
        "The Company (3M) grew 5.1%.",
    ]


def test_line_breaks_inside_a_sentence_are_kept_in_its_span() -> None:
    text = "Heading\nWe expect costs of\napproximately $700 million. Next one."
    spans = split_sentences(text, start=8)
    assert [text[a:b] for a, b in spans] == [
        "We expect costs of\napproximately $700 million.",
        "Next one.",
    ]
    assert all(a >= 8 for a, _ in spans)


def test_offsets_are_character_offsets_with_unicode() -> None:
    text = "Café — “quoted” text. Ünïcode works? Yes it does."
    for a, b in split_sentences(text):
        assert text[a:b].strip() == text[a:b]
    assert _texts(text)[-1] == "Yes it does."


def test_long_run_on_text_is_cut_at_line_breaks() -> None:
    line = "item without a full stop and more words here"
    text = "\n".join([line] * 60)
    spans = split_sentences(text)
    assert len(spans) > 1
    assert all(b - a <= MAX_SENTENCE_CHARS for a, b in spans)
    assert "".join(text[a:b] for a, b in spans).replace("\n", "") == text.replace("\n", "")


@pytest.mark.parametrize("blank", ["", "   ", "\n\n"])
def test_blank_segments_have_no_sentences(blank: str) -> None:
    assert split_sentences(blank) == []
