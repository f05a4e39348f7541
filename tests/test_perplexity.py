"""Perplexity scoring: the real pretrained local model for fluency, a tiny random GPT-2 on
the real tokenizer for the padding guarantee."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from realsyn_spark.models.assets import install_gpt2_tokenizer
from realsyn_spark.models.causal_lm import load_causal_lm, perplexities, resolve_causal_lm

MODELS_DIR = str(Path(__file__).resolve().parent.parent / "data" / "models")


@pytest.fixture(scope="module")
def tiny():
    install_gpt2_tokenizer(MODELS_DIR)
    return load_causal_lm(resolve_causal_lm("tiny-gpt2-random"), MODELS_DIR, "cpu")


def test_padding_does_not_change_a_score(tiny):
    model, tokenizer = tiny
    short = "The cat sat on the mat."
    longer = [
        "A considerably longer sentence that keeps going with many extra words for padding.",
        "Another one, also quite a bit longer than the short sentence we score alone here.",
    ]
    alone = perplexities([short], model, tokenizer, "cpu", batch_size=8, max_tokens=64)[0]
    batched = perplexities([*longer, short], model, tokenizer, "cpu", batch_size=8, max_tokens=64)
    assert batched[2] == pytest.approx(alone, rel=1e-4)
    # Batch size and order do not matter either.
    one_by_one = perplexities([*longer, short], model, tokenizer, "cpu", 1, 64)
    assert one_by_one == pytest.approx(batched, rel=1e-4)


def test_empty_text_is_unscorable(tiny):
    model, tokenizer = tiny
    score = perplexities([""], model, tokenizer, "cpu", 4, 64)[0]
    assert score != score  # NaN


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match="smollm2-135m"):
        resolve_causal_lm("no-such-model")


def test_fluent_text_scores_lower_than_its_shuffled_words():
    model, tokenizer = load_causal_lm(resolve_causal_lm("smollm2-135m"), MODELS_DIR, "cpu")
    fluent = [
        "The blur filter softens the image and removes fine detail.",
        "Click the button at the bottom of the dialog to apply the changes.",
        "She walked to the market to buy fresh bread and vegetables.",
    ]
    rng = random.Random(0)
    shuffled = []
    for sentence in fluent:
        words = sentence.rstrip(".").split()
        rng.shuffle(words)
        shuffled.append(" ".join(words) + ".")
    scores = perplexities(fluent + shuffled, model, tokenizer, "cpu", 8, 64)
    for good, bad in zip(scores[:3], scores[3:], strict=True):
        assert good < bad / 3
