"""From text to text with a trained model: the translations of sentences by a model trained on a
parallel corpus (:func:`translate_sentences`), the answers of a model trained on the book's
fixed-width questions (:func:`answer_questions`), and the attention map of one answer
(:func:`attention_map`).

A saved model (:func:`s2sxp.io.load`) carries what these need: its vocabulary (``model.vocab``) and
what its run recorded (``model.meta``: whether the sources were reversed, how wide the questions
are, how long a translation may be).
"""
from dataclasses import dataclass

import numpy

from .backend import asnumpy
from .corpus import Sequences
from .datasets import encode_question
from .decoding import decode
from .distributed import SINGLE


def translate(model, x, vocab, max_length, beam=1, length_penalty=1.0, batch_size=None,
              progress=None, world=SINGLE, early_stop=False):
    """The translations, as text, of the sources ``x`` (:class:`~s2sxp.corpus.Sequences` or ids
    padded with the vocabulary's ``<pad>``) by a model trained on a corpus of ``vocab``."""
    ids = decode(model, x, vocab.bos_id, max_length, end_id=vocab.eos_id, beam=beam,
                 length_penalty=length_penalty, batch_size=batch_size, progress=progress,
                 world=world, early_stop=early_stop)
    return [vocab.decode_text(row) for row in ids]


@dataclass
class Translations:
    """What :func:`translate_sentences` gives: ``texts`` the translations (with ``n_best``, a list
    of the n best of each, best first, and ``scores`` their normalised log-probabilities),
    ``sources`` each sentence's tokens, ``ids`` the output ids ((N, max_length), or
    (N, n_best, max_length)) and ``unknown`` the source tokens the vocabulary lacks (read as
    ``<unk>``)."""

    texts: list
    sources: list
    ids: numpy.ndarray
    unknown: list
    scores: list = None


def translate_sentences(model, sentences, beam=1, length_penalty=1.0, batch_size=None,
                        n_best=1, skip_empty=False, early_stop=False):
    """The :class:`Translations` of raw sentences by a model trained on a parallel corpus
    (``model.vocab`` the targets' TokenVocab, ``model.source_vocab`` the sources'; ``model.meta``
    as a run saves it: whether the sources were reversed, how long a translation may be),
    decoded in batches of sentences of similar lengths, in the order given. A sentence without
    tokens is a ValueError, or with ``skip_empty`` translated as the empty string."""
    vocab, meta = model.vocab, getattr(model, "meta", {})
    source_vocab = getattr(model, "source_vocab", None) or vocab
    sources = []
    for text in sentences:
        tokens = source_vocab.tokenize(text)
        if not tokens and not skip_empty:
            unit = {"word": "words", "spm": "subwords"}.get(source_vocab.tokenizer, "characters")
            raise ValueError(f"{text!r} holds no {unit} to translate")
        sources.append(tokens)
    unknown = source_vocab.unknown(t for tokens in sources for t in tokens)
    real = [i for i, tokens in enumerate(sources) if tokens]
    ids = [source_vocab.encode(sources[i]) for i in real]
    if meta.get("reversed_input"):
        ids = [row[::-1] for row in ids]
    max_length = meta.get("max_output_length") or 2 * max((len(r) for r in ids), default=0) + 10
    shape = (len(sources), n_best, max_length) if n_best > 1 else (len(sources), max_length)
    out = numpy.full(shape, vocab.pad_id, dtype=numpy.int32)
    scores = numpy.zeros((len(sources), n_best)) if n_best > 1 else None
    if ids:
        decoded = decode(model, Sequences(ids, vocab.pad_id), vocab.bos_id, max_length,
                         end_id=vocab.eos_id, beam=beam, length_penalty=length_penalty,
                         batch_size=batch_size, n_best=n_best, early_stop=early_stop)
        if n_best > 1:
            decoded, scores[real] = decoded
        out[real] = decoded
    texts = [vocab.decode_text(row) if n_best == 1 else [vocab.decode_text(r) for r in row]
             for row in out]
    for i in set(range(len(sources))) - set(real):
        texts[i] = "" if n_best == 1 else [""] * n_best
    return Translations(texts, sources, out, unknown,
                        None if scores is None else scores.tolist())


def answer_questions(model, questions, source="the model"):
    """Greedy answers (text as wide as the model's answers, padded with spaces) to questions in
    the book's fixed-width format, by a model trained on them (``model.vocab`` a Vocab with the
    start symbol ``_``; ``model.meta``: ``question_width``, ``answer_width``,
    ``reversed_input``). ValueError names what the model lacks, unknown characters or a too long
    question."""
    vocab, meta = model.vocab, getattr(model, "meta", {})
    if "_" not in vocab.char_to_id:
        raise ValueError(f"{source}: the vocabulary has no start symbol '_'")
    width, answer_width = meta.get("question_width"), meta.get("answer_width")
    if width is None or answer_width is None:
        raise ValueError(f"{source} does not record how wide its questions and answers are (it "
                         "was not written by s2sxp train)")
    for name, value in (("question_width", width), ("answer_width", answer_width)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 < value <= 10_000:
            raise ValueError(f"{source} records a {name} of {value!r}, not a width")
    for text in questions:
        if not text.strip():
            raise ValueError(f"{text!r} holds no question to answer")
    encoded = [encode_question(text, vocab, width, bool(meta.get("reversed_input")), source)
               for text in questions]
    start_id = vocab.char_to_id["_"]
    return [vocab.decode(asnumpy(model.generate(xs, start_id, answer_width - 1))[0])
            for xs in encoded]


def attention_map(model, source, answer, name="the model"):
    """The attention weights (len(answer), len(source)) of the last decoded batch's first row,
    the source in reading order (``source``, ``answer``: its tokens or characters, as decoded);
    ValueError for a model without attention."""
    weights = model.attention_weights
    if weights is None:
        raise ValueError(f"{name} holds a {model.kind} model, which has no attention to draw "
                         "(--heatmap needs attention or another attention model)")
    weights = asnumpy(weights)[0][:len(answer), :len(source)]
    return weights[:, ::-1] if getattr(model, "meta", {}).get("reversed_input") else weights


def answer_tokens(vocab, ids):
    """The tokens of one translation (output ids of a :class:`~s2sxp.vocab.TokenVocab`) as its
    attention map labels them: with its closing ``</s>`` where it has one."""
    row = list(ids)
    tokens = vocab.decode(row)
    return tokens + [vocab.tokens[vocab.eos_id]] if vocab.eos_id in row else tokens
