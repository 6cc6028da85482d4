"""CLIP's byte-pair-encoding tokenizer, token for token the same as KerasCV's ``SimpleTokenizer``.

Stable Diffusion v1.x reads a prompt as 77 token ids: a start token, up to 75 prompt
tokens, an end token, and end tokens as padding. Text is cleaned the way CLIP cleans
it (HTML unescaped twice, whitespace collapsed, lower-cased), split by a regular
expression into words, numbers (one digit each) and runs of punctuation, each piece's
UTF-8 bytes mapped to printable characters, and each piece merged by the BPE ranks in
``bpe_simple_vocab_16e6.txt.gz``.

Unlike KerasCV, :meth:`Tokenizer.encode` never raises on long text: it keeps the first
75 prompt tokens and reports what it dropped, so the UI can say so.
"""

from __future__ import annotations

import gzip
import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import regex
from numpy.typing import NDArray

from .errors import ModelError

MAX_TOKENS = 77
START_TOKEN = 49406
END_TOKEN = 49407
#: Prompt tokens that fit between the start and end tokens.
MAX_PROMPT_TOKENS = MAX_TOKENS - 2

VOCAB_FILENAME = "bpe_simple_vocab_16e6.txt.gz"
DEFAULT_VOCAB_PATH = Path(__file__).resolve().parents[2] / "resources" / "clip" / VOCAB_FILENAME

_START_TEXT = "<|startoftext|>"
_END_TEXT = "<|endoftext|>"
#: CLIP uses the first 48,894 merges of the file (line 0 is a version header):
#: 256 byte symbols + 256 word-final symbols + 48,894 merges + 2 specials = 49,408 ids.
_N_MERGES = 49152 - 256 - 2
_WORD_END = "</w>"

# The specials first, so "<|endoftext|>" typed in a prompt is read as the special token
# (as KerasCV and CLIP do); then English contractions, letter runs, single digits, and
# runs of anything else that is not whitespace.
_PATTERN = regex.compile(
    "|".join(regex.escape(s) for s in (_START_TEXT, _END_TEXT))
    + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
_WHITESPACE = regex.compile(r"\s+")


@dataclass(frozen=True)
class TokenizedPrompt:
    """A prompt as the text encoder reads it, and what did not fit."""

    ids: tuple[int, ...]  # MAX_TOKENS ids: start, prompt tokens, end, end padding
    n_tokens: int  # prompt tokens read (start and end not counted)
    dropped: int  # prompt tokens past the 75 that fit, not read
    dropped_text: str  # the dropped tokens decoded, for telling the user ("" if none)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """Map each byte to a printable character, so BPE never sees whitespace or control bytes.

    Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 onwards.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    byte_values = printable[:]
    code_points = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            byte_values.append(b)
            code_points.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(byte_values, code_points)}


@dataclass(frozen=True)
class _Vocab:
    encoder: dict[str, int]
    decoder: dict[int, str]
    bpe_ranks: dict[tuple[str, str], int]


@lru_cache(maxsize=4)
def _load_vocab(path: Path) -> _Vocab:
    """Read the merges file once per path; the tables are shared by every Tokenizer."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise ModelError(
            f"Could not read the CLIP vocabulary {path} ({err}). "
            "Reinstall ParaSight Desktop to restore it."
        ) from err
    merge_lines = lines[1 : _N_MERGES + 1]
    if len(merge_lines) < _N_MERGES:
        raise ModelError(
            f"The CLIP vocabulary {path} is incomplete ({len(merge_lines)} of {_N_MERGES} "
            "merges). Reinstall ParaSight Desktop to restore it."
        )
    merges: list[tuple[str, str]] = []
    for line in merge_lines:
        parts = line.split()
        if len(parts) != 2:
            raise ModelError(
                f"The CLIP vocabulary {path} is damaged (bad merge line {line!r}). "
                "Reinstall ParaSight Desktop to restore it."
            )
        merges.append((parts[0], parts[1]))
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + _WORD_END for s in symbols]
    vocab += ["".join(m) for m in merges]
    vocab += [_START_TEXT, _END_TEXT]
    encoder = {token: i for i, token in enumerate(vocab)}
    return _Vocab(
        encoder=encoder,
        decoder={i: token for token, i in encoder.items()},
        bpe_ranks={m: i for i, m in enumerate(merges)},
    )


def _clean(text: str) -> str:
    """CLIP's cleaning: unescape HTML twice, collapse whitespace, strip, lower-case."""
    text = html.unescape(html.unescape(text)).strip()
    return str(_WHITESPACE.sub(" ", text)).strip().lower()


class Tokenizer:
    """CLIP BPE tokenizer. Cheap to construct after the first: the vocabulary is cached."""

    def __init__(self, vocab_path: Path | None = None) -> None:
        path = Path(vocab_path) if vocab_path is not None else DEFAULT_VOCAB_PATH
        vocab = _load_vocab(path.resolve())
        self._encoder = vocab.encoder
        self._decoder = vocab.decoder
        self._ranks = vocab.bpe_ranks
        self._byte_encoder = bytes_to_unicode()
        self._byte_decoder = {c: b for b, c in self._byte_encoder.items()}
        self._cache: dict[str, list[int]] = {
            _START_TEXT: [START_TOKEN],
            _END_TEXT: [END_TOKEN],
        }

    def _bpe(self, piece: str) -> list[int]:
        """Merge one piece (already byte-mapped) into token ids, lowest-ranked pair first."""
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        word = list(piece[:-1]) + [piece[-1] + _WORD_END]
        while len(word) > 1:
            pairs = set(pairwise(word))
            best = min(pairs, key=lambda p: self._ranks.get(p, len(self._ranks)))
            if best not in self._ranks:
                break
            first, second = best
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids = [self._encoder[symbol] for symbol in word]
        self._cache[piece] = ids
        return ids

    def encode_raw(self, text: str) -> list[int]:
        """Start token, every prompt token, end token: KerasCV's ``SimpleTokenizer.encode``."""
        ids = [START_TOKEN]
        for piece in _PATTERN.findall(_clean(text)):
            mapped = "".join(self._byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self._bpe(mapped))
        ids.append(END_TOKEN)
        return ids

    def encode(self, text: str) -> TokenizedPrompt:
        """The 77 ids the text encoder reads; text past 75 prompt tokens is dropped, not an error.

        The layout is KerasCV's ``encode_text`` phrase: ``tokens + [END_TOKEN] * (77 - len)``.
        """
        body = self.encode_raw(text)[1:-1]
        kept, cut = body[:MAX_PROMPT_TOKENS], body[MAX_PROMPT_TOKENS:]
        ids = [START_TOKEN, *kept, END_TOKEN]
        ids += [END_TOKEN] * (MAX_TOKENS - len(ids))
        return TokenizedPrompt(
            ids=tuple(ids),
            n_tokens=len(kept),
            dropped=len(cut),
            dropped_text=self.decode(cut).strip(),
        )

    def decode(self, ids: Sequence[int]) -> str:
        """Text of the ids, as KerasCV decodes it (word ends become spaces, specials kept)."""
        symbols = "".join(self._decoder[int(i)] for i in ids)
        raw = bytearray(self._byte_decoder[c] for c in symbols)
        return raw.decode("utf-8", errors="replace").replace(_WORD_END, " ")

    def as_array(self, text: str) -> NDArray[np.int32]:
        """``encode(text).ids`` as an int32 array of shape (1, 77), ready for the text encoder."""
        return np.asarray([self.encode(text).ids], dtype=np.int32)
