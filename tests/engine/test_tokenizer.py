"""The tokenizer against KerasCV's own SimpleTokenizer, reading the same vocabulary file."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from parasight_desktop.engine.errors import ModelError
from parasight_desktop.engine.tokenizer import (
    DEFAULT_VOCAB_PATH,
    END_TOKEN,
    MAX_TOKENS,
    START_TOKEN,
    TokenizedPrompt,
    Tokenizer,
)

LONG = " ".join(f"word{i} and a red fox number {i}," for i in range(40))

PROMPTS = [
    "",
    "   ",
    "a photo of an astronaut riding a horse on mars",
    "A Photo Of An ASTRONAUT, Riding a HoRsE!!!",
    "hello, world. how's it going? (very) [well] {ok} <fine> ...!?;:",
    "it's what they're doing; I've, I'm, we'll, he'd, don't",
    "IT'S THEY'RE DON'T",
    "3.14159 and 1,000,000 and 2024-01-31 and 007",
    "café naïve résumé Zürich Ærøskøbing façade",
    "emoji 🦊🔥 and 👩‍👩‍👧 family, 🇯🇵 flag",
    "Tom &amp; Jerry &lt;3 it&#39;s &quot;quoted&quot; &amp;amp; double &nbsp;nbsp",
    "tabs\tand\t\tnewlines\n\nand   spaces\r\n everywhere  ",
    "漢字とひらがな、カタカナ。中文字符 한국어",
    "Привет мир, Ελληνικά, עברית, العربية",
    "snake_case-and-kebab/paths\\back~tilde`tick^caret|pipe",
    "<|startoftext|>typed specials<|endoftext|>",
    "a" * 300,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "\u00a0non-breaking\u2003em space\u200bzero width",
    LONG,
]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


@pytest.fixture(scope="module")
def reference() -> Any:
    from keras_cv.src.models.stable_diffusion.clip_tokenizer import SimpleTokenizer

    return SimpleTokenizer(bpe_path=str(DEFAULT_VOCAB_PATH))


def keras_cv_phrase(reference: Any, text: str) -> list[int]:
    """KerasCV's ``encode_text`` padding, without its length check."""
    inputs: list[int] = reference.encode(text)
    return inputs + [49407] * (MAX_TOKENS - len(inputs))


@pytest.mark.parametrize("text", PROMPTS)
def test_encode_raw_matches_keras_cv(tokenizer: Tokenizer, reference: Any, text: str) -> None:
    assert tokenizer.encode_raw(text) == reference.encode(text)


@pytest.mark.parametrize("text", PROMPTS)
def test_decode_matches_keras_cv(tokenizer: Tokenizer, reference: Any, text: str) -> None:
    ids = reference.encode(text)
    assert tokenizer.decode(ids) == reference.decode(ids)


@pytest.mark.parametrize("text", PROMPTS)
def test_padding_matches_keras_cv_encode_text(
    tokenizer: Tokenizer, reference: Any, text: str
) -> None:
    prompt = tokenizer.encode(text)
    n_reference = len(reference.encode(text)) - 2
    if n_reference <= 75:
        assert list(prompt.ids) == keras_cv_phrase(reference, text)
        assert (prompt.n_tokens, prompt.dropped, prompt.dropped_text) == (n_reference, 0, "")
    else:  # KerasCV refuses these; we keep the first 75 tokens.
        assert (prompt.n_tokens, prompt.dropped) == (75, n_reference - 75)


def test_specials_and_constants(tokenizer: Tokenizer) -> None:
    assert tokenizer.encode_raw("") == [START_TOKEN, END_TOKEN]
    assert tokenizer.encode("") == TokenizedPrompt(
        ids=(START_TOKEN,) + (END_TOKEN,) * 76, n_tokens=0, dropped=0, dropped_text=""
    )
    assert tokenizer.encode_raw("<|endoftext|>") == [START_TOKEN, END_TOKEN, END_TOKEN]


def test_long_prompt_is_truncated_not_refused(tokenizer: Tokenizer, reference: Any) -> None:
    full = reference.encode(LONG)[1:-1]
    assert len(full) > 75
    prompt = tokenizer.encode(LONG)
    assert len(prompt.ids) == MAX_TOKENS
    assert list(prompt.ids) == [START_TOKEN, *full[:75], END_TOKEN]
    assert prompt.n_tokens == 75
    assert prompt.dropped == len(full) - 75
    assert prompt.dropped_text == reference.decode(full[75:]).strip()
    # The dropped text is the tail of the prompt, read back from its tokens.
    assert prompt.dropped_text.endswith("number 3 9 ,")  # digits are one token each
    assert prompt.dropped_text in reference.decode(full)


@pytest.mark.parametrize("n_words", [74, 75, 76, 77, 200])
def test_truncation_boundary(tokenizer: Tokenizer, n_words: int) -> None:
    # "cat" is one token, so n_words words are n_words prompt tokens.
    prompt = tokenizer.encode(" ".join(["cat"] * n_words))
    cat = tokenizer.encode_raw("cat")[1]
    assert prompt.n_tokens == min(n_words, 75)
    assert prompt.dropped == max(0, n_words - 75)
    assert prompt.ids[: prompt.n_tokens + 2] == (START_TOKEN, *[cat] * prompt.n_tokens, END_TOKEN)
    assert set(prompt.ids[prompt.n_tokens + 1 :]) == {END_TOKEN}
    assert prompt.dropped_text == " ".join(["cat"] * prompt.dropped)


def test_as_array(tokenizer: Tokenizer) -> None:
    arr = tokenizer.as_array("a red fox")
    assert arr.shape == (1, MAX_TOKENS)
    assert arr.dtype == np.int32
    assert arr[0].tolist() == list(tokenizer.encode("a red fox").ids)


def test_vocab_is_cached(tokenizer: Tokenizer) -> None:
    start = time.perf_counter()
    for _ in range(20):
        Tokenizer()
    assert time.perf_counter() - start < 0.5


def test_explicit_vocab_path(tmp_path: Path, tokenizer: Tokenizer) -> None:
    copy = tmp_path / "vocab.txt.gz"
    copy.write_bytes(DEFAULT_VOCAB_PATH.read_bytes())
    assert Tokenizer(copy).encode_raw(PROMPTS[2]) == tokenizer.encode_raw(PROMPTS[2])


def test_missing_vocab_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt.gz"
    with pytest.raises(ModelError, match="nope.txt.gz"):
        Tokenizer(missing)


def test_truncated_vocab_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short.txt.gz"
    with gzip.open(short, "wt", encoding="utf-8") as f:
        f.write("#version: 0.2\ni n\nt h\n")
    with pytest.raises(ModelError, match="incomplete"):
        Tokenizer(short)
