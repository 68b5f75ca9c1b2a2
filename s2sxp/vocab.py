"""Vocabularies: tokens and their ids, for the book's character data and for parallel corpora.

Both kinds answer to one interface: ``len``, ``==``, ``tokens`` (the entries, in id order),
``encode_text(text) -> ids`` and ``decode_text(ids) -> text``. A saved model records a Vocab as the
string of its characters and a TokenVocab as a dict (``to_dict``); :func:`from_meta` reads either.

:class:`Vocab` holds single characters in order of first appearance, the book's rule for its
fixed-width ``question_answer`` data: every character must be known. :class:`TokenVocab` holds
characters, words or subwords of a corpus, the four :data:`SPECIALS` first (ids 0-3), then the
corpus's tokens by descending count; an unknown token reads as ``<unk>``. Subwords are the pieces
of a SentencePiece model (Kudo & Richardson 2018) trained on the training split
(:func:`train_subwords`), which the vocabulary carries with it.
"""
import base64
import io
import re

import numpy as np
import sentencepiece

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
TOKENIZERS = ("char", "word", "spm")
#: What the tokens of each tokenizer are, in words.
UNITS = {"char": "characters", "word": "words", "spm": "subwords"}
#: SentencePiece's model types: unigram language model or byte-pair encoding.
SUBWORD_MODELS = ("unigram", "bpe")


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

    #: What its entries are, in words; it carries no subword model.
    unit = "characters"
    subword_model = None

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
    """The tokens of ``text``: its characters (whitespace runs as one space) or its words
    (subwords need a model: :meth:`TokenVocab.tokenize`)."""
    check_tokenizer(tokens)
    if tokens == "word":
        return text.split()
    if tokens == "spm":
        raise ValueError("subwords (spm) are a vocabulary's: use TokenVocab.tokenize")
    return list(" ".join(text.split()))


def detokenize(token_list, tokens):
    check_tokenizer(tokens)
    if tokens == "spm":
        raise ValueError("subwords (spm) are a vocabulary's: use TokenVocab.detokenize")
    return ("" if tokens == "char" else " ").join(token_list)


def train_subwords(texts, vocab_size, model_type="unigram"):
    """A SentencePiece model (its serialized bytes) of about ``vocab_size`` pieces trained on
    ``texts``; fewer where the texts hold fewer. Its own special pieces stay unused: the
    vocabulary adds :data:`SPECIALS`."""
    if model_type not in SUBWORD_MODELS:
        raise ValueError(f"unknown subword model {model_type!r}; choose one of "
                         + ", ".join(SUBWORD_MODELS))
    if vocab_size < 8:
        raise ValueError(f"a subword vocabulary needs at least 8 pieces, got {vocab_size}")
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, vocab_size=int(vocab_size),
            model_type=model_type, hard_vocab_limit=False, character_coverage=0.9995,
            bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0, minloglevel=2, num_threads=1)
    except RuntimeError as e:
        needed = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(e))
        if needed:
            raise ValueError(f"a subword vocabulary of {vocab_size} pieces cannot hold the "
                             f"{needed[1]} characters of these texts; ask for at least "
                             f"{needed[1]} (--vocab-size)") from None
        raise ValueError("SentencePiece could not train on these texts: "
                         + str(e).strip().splitlines()[-1]) from None
    return model.getvalue()


class TokenVocab:
    """Tokens and their ids: the four :data:`SPECIALS` first, then the corpus's tokens."""

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, tokens, tokenizer, subword_model=None):
        check_tokenizer(tokenizer)
        if (tokenizer == "spm") != (subword_model is not None):
            raise ValueError("a vocabulary of subwords (spm), and only that, comes with its "
                             "SentencePiece model")
        self.subword_model = subword_model
        self._pieces = None
        if subword_model is not None:
            self._pieces = sentencepiece.SentencePieceProcessor()
            try:
                self._pieces.LoadFromSerializedProto(subword_model)
            except (RuntimeError, TypeError) as e:
                raise ValueError(f"a broken SentencePiece model ({e})") from None
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
    def build(cls, sentences, tokenizer, min_freq=1, max_size=None, subword_model=None):
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
        return cls(SPECIALS + tuple(ranked), tokenizer, subword_model)

    def __len__(self):
        return len(self.tokens)

    def __eq__(self, other):
        if not isinstance(other, TokenVocab):
            return NotImplemented
        return (self.tokens == other.tokens and self.tokenizer == other.tokenizer
                and self.subword_model == other.subword_model)

    def __repr__(self):
        return f"TokenVocab({len(self)} {self.tokenizer} tokens)"

    @property
    def unit(self):
        """What its tokens are, in words: characters, words or subwords."""
        return UNITS[self.tokenizer]

    def tokenize(self, text):
        """The tokens of ``text``: characters, words, or the subword model's pieces."""
        if self._pieces is not None:
            return self._pieces.encode(" ".join(text.split()), out_type=str)
        return tokenize(text, self.tokenizer)

    def detokenize(self, token_list):
        """Text from tokens: characters joined, words joined by spaces, or subwords decoded
        (an unknown piece as ⁇)."""
        if self._pieces is not None:
            return self._pieces.decode_pieces(list(token_list))
        return detokenize(token_list, self.tokenizer)

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
        return self.detokenize(self.decode(ids))

    def to_dict(self):
        d = {"tokenizer": self.tokenizer, "tokens": list(self.tokens)}
        if self.subword_model is not None:
            d["subword_model"] = base64.b64encode(self.subword_model).decode("ascii")
        return d

    @classmethod
    def from_dict(cls, d):
        try:
            tokens, tokenizer = d["tokens"], d["tokenizer"]
        except (KeyError, TypeError):
            raise ValueError("a token vocabulary needs 'tokens' and 'tokenizer'") from None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("a token vocabulary's 'tokens' must be a list of strings")
        model = d.get("subword_model")
        if model is not None:
            try:
                model = base64.b64decode(model, validate=True)
            except (TypeError, ValueError):
                raise ValueError("a token vocabulary's 'subword_model' is not base64") from None
        return cls(tokens, tokenizer, model)


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
    unit = saved.unit
    if not detail:
        detail.append(f"the same {unit} in another order")
    return (f"{path} was trained with another vocabulary than {data} gives "
            f"({len(saved)} vs {len(now)} {unit}; {'; '.join(detail)})")
