"""Vocabularies: tokens and their ids, for the book's character data and for parallel corpora.

Both kinds answer to one interface: ``len``, ``==``, ``tokens`` (the entries, in id order),
``encode_text(text) -> ids`` and ``decode_text(ids) -> text``. A saved model records a Vocab as the
string of its characters and a TokenVocab as a dict (``to_dict``); :func:`from_meta` reads either.

:class:`Vocab` holds single characters in order of first appearance, the book's rule for its
fixed-width ``question_answer`` data: every character must be known. :class:`TokenVocab` holds
characters or words of a corpus, the four :data:`SPECIALS` first (ids 0-3), then the corpus's
tokens by descending count; an unknown token reads as ``<unk>``.
"""
import numpy as np

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
TOKENIZERS = ("char", "word")


def counts(items):
    """Occurrences of each item, in order of first appearance."""
    found = {}
    for item in items:
        found[item] = found.get(item, 0) + 1
    return found


def strip_newline(line):
    """``line`` without one trailing "\\n" or "\\r\\n"."""
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


class Vocab:
    """Character vocabulary: ids in order of first appearance."""

    def __init__(self, chars):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {c!r}")
        repeated = [c for c, count in counts(chars).items() if count > 1]
        if repeated:
            raise ValueError("characters listed more than once in the vocabulary: "
                             + ", ".join(map(repr, repeated)))
        self.chars = chars
        self.char_to_id = {c: i for i, c in enumerate(chars)}
        self.id_to_char = dict(enumerate(chars))

    @classmethod
    def from_lines(cls, lines):
        """The book's rule: each line's question, then its answer, in file order.

        The answer follows the question on its line, so this is the order in which characters
        first appear when the lines are read left to right, top to bottom.
        """
        first_seen = {}
        for line in lines:
            first_seen.update(dict.fromkeys(strip_newline(line)))
        return cls(first_seen)

    @property
    def tokens(self):
        return self.chars

    def __len__(self):
        return len(self.chars)

    def __eq__(self, other):
        if not isinstance(other, Vocab):
            return NotImplemented
        return self.chars == other.chars

    def __repr__(self):
        return f"Vocab({''.join(self.chars)!r})"

    def encode(self, text):
        """ids: (len(text),) int32."""
        ids = [self.char_to_id.get(c, -1) for c in text]
        if -1 in ids:
            unknown = counts(c for c in text if c not in self.char_to_id)
            raise ValueError("characters not in the vocabulary: " + ", ".join(map(repr, unknown)))
        return np.array(ids, dtype=np.int32)

    encode_text = encode

    def decode(self, ids):
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode takes a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size == 0:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"decode takes integer ids, got dtype {ids.dtype}")
        bad = ids[(ids < 0) | (ids >= len(self))]
        if bad.size:
            raise ValueError(f"ids outside 0..{len(self) - 1} of this vocabulary: "
                             + ", ".join(map(str, counts(bad.tolist()))))
        return "".join(self.chars[i] for i in ids.tolist())

    decode_text = decode

    def translate_ids(self, ids, other, source="the data"):
        """``ids`` (any shape) of this vocabulary re-encoded in ``other``, where the same
        characters may have other ids; ValueError lists the characters ``other`` lacks."""
        unknown = [c for c in self.chars if c not in other.char_to_id]
        if unknown:
            raise ValueError(f"{source} has characters the model's vocabulary lacks: "
                             + ", ".join(map(repr, unknown)))
        return other.encode("".join(self.chars))[ids]


def check_tokenizer(tokens):
    if tokens not in TOKENIZERS:
        raise ValueError(f"unknown tokens {tokens!r}; choose one of {', '.join(TOKENIZERS)}")


def tokenize(text, tokens):
    """The tokens of ``text``: its characters (whitespace runs as one space) or its words."""
    check_tokenizer(tokens)
    if tokens == "word":
        return text.split()
    return list(" ".join(text.split()))


def detokenize(token_list, tokens):
    check_tokenizer(tokens)
    return ("" if tokens == "char" else " ").join(token_list)


class TokenVocab:
    """Tokens and their ids: the four :data:`SPECIALS` first, then the corpus's tokens."""

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, tokens, tokenizer):
        check_tokenizer(tokenizer)
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIALS:
            raise ValueError(f"a token vocabulary starts with {', '.join(SPECIALS)}")
        repeated = [t for t, count in counts(tokens).items() if count > 1]
        if repeated:
            raise ValueError("tokens listed more than once in the vocabulary: "
                             + ", ".join(map(repr, repeated[:10])))
        self.tokens, self.tokenizer = tokens, tokenizer
        self.token_to_id = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, sentences, tokenizer, min_freq=1, max_size=None):
        """From token lists: tokens by descending count (ties: first seen), those seen fewer than
        ``min_freq`` times left out, at most ``max_size`` entries with the specials."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        if max_size is not None and max_size < len(SPECIALS) + 1:
            raise ValueError(f"max_size must be at least {len(SPECIALS) + 1}, got {max_size}")
        seen = counts(t for sentence in sentences for t in sentence)
        ranked = sorted((t for t, c in seen.items() if c >= min_freq and t not in SPECIALS),
                        key=lambda t: -seen[t])              # stable: ties keep first appearance
        if max_size is not None:
            ranked = ranked[:max_size - len(SPECIALS)]
        return cls(SPECIALS + tuple(ranked), tokenizer)

    def __len__(self):
        return len(self.tokens)

    def __eq__(self, other):
        if not isinstance(other, TokenVocab):
            return NotImplemented
        return self.tokens == other.tokens and self.tokenizer == other.tokenizer

    def __repr__(self):
        return f"TokenVocab({len(self)} {self.tokenizer} tokens)"

    def tokenize(self, text):
        return tokenize(text, self.tokenizer)

    def unknown(self, token_list):
        """The tokens of ``token_list`` not in this vocabulary, each once, in order."""
        return list(dict.fromkeys(t for t in token_list if t not in self.token_to_id))

    def encode(self, token_list, bos=False, eos=False):
        """ids (int32) of the tokens; a token not in the vocabulary is ``<unk>``."""
        ids = [self.token_to_id.get(t, UNK_ID) for t in token_list]
        return np.array([BOS_ID] * bos + ids + [EOS_ID] * eos, dtype=np.int32)

    def encode_text(self, text, bos=False, eos=False):
        return self.encode(self.tokenize(text), bos, eos)

    def decode(self, ids):
        """Tokens of ids, a leading ``<s>`` skipped, up to the first ``</s>``, no ``<pad>``."""
        ids = np.asarray(ids).reshape(-1).tolist()
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"ids outside 0..{len(self) - 1} of this vocabulary: "
                             + ", ".join(map(str, bad[:10])))
        if ids[:1] == [BOS_ID]:
            ids = ids[1:]
        if EOS_ID in ids:
            ids = ids[:ids.index(EOS_ID)]
        return [self.tokens[i] for i in ids if i != PAD_ID]

    def decode_text(self, ids):
        return detokenize(self.decode(ids), self.tokenizer)

    def to_dict(self):
        return {"tokenizer": self.tokenizer, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, d):
        try:
            tokens, tokenizer = d["tokens"], d["tokenizer"]
        except (KeyError, TypeError):
            raise ValueError("a token vocabulary needs 'tokens' and 'tokenizer'") from None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("a token vocabulary's 'tokens' must be a list of strings")
        return cls(tokens, tokenizer)


def from_meta(value):
    """The vocabulary a saved model's metadata records: a :class:`Vocab` of characters (a string)
    or a :class:`TokenVocab` (a dict); ValueError when it is broken."""
    if isinstance(value, dict):
        return TokenVocab.from_dict(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string of characters or a token list, got "
                         f"{type(value).__name__}")
    return Vocab(value)


def mismatch(path, saved, now, data):
    """Why a run's saved vocabulary ``saved`` is not the one ``data`` gives now, in one line."""
    if saved is None:
        return f"{path} holds no vocabulary"
    if type(saved) is not type(now):
        return f"{path} was trained on another kind of data than {data}"
    saved_set, now_set = set(saved.tokens), set(now.tokens)
    only_saved = [c for c in saved.tokens if c not in now_set][:10]
    only_now = [c for c in now.tokens if c not in saved_set][:10]
    detail = []
    if only_saved:
        detail.append("only in the checkpoint: " + ", ".join(map(repr, only_saved)))
    if only_now:
        detail.append(f"only in {data}: " + ", ".join(map(repr, only_now)))
    unit = "tokens" if isinstance(saved, TokenVocab) else "characters"
    if not detail:
        detail.append(f"the same {unit} in another order")
    return (f"{path} was trained with another vocabulary than {data} gives "
            f"({len(saved)} vs {len(now)} {unit}; {'; '.join(detail)})")
