"""From text to text with a trained model, whichever kind it is (:func:`translator`): the
translations of sentences by a model trained on a parallel corpus (:class:`SentenceTranslator`)
and the answers of a model trained on the book's fixed-width questions
(:class:`QuestionAnswerer`), both as :class:`Translations`, with the attention map of one of them.

A saved model (:func:`s2sxp.io.load`) carries what these need: its vocabulary (``model.vocab``) and
what its run recorded (``model.meta``: whether the sources were reversed, how wide the questions
are, how long a translation may be).
"""
from dataclasses import dataclass

import numpy

from .backend import asnumpy
from .batches import Sequences
from .datasets import encode_question
from .decoding import DecodeOptions, decode
from .vocab import TokenVocab


@dataclass
class Translations:
    """What a translator gives: ``texts`` the translations (with ``n_best``, a list of the n best
    of each, best first), ``scores`` after beam search the normalised log-probabilities of each
    one's ``n_best`` best (None after greedy decoding), ``sources`` each
    sentence's tokens (a question's characters, padded to its width), ``ids`` the output ids
    ((N, max_length), or (N, n_best, max_length)) and ``unknown`` the source tokens the
    vocabulary lacks (read as ``<unk>``)."""

    texts: list
    sources: list
    ids: numpy.ndarray
    unknown: list
    scores: list = None


def translator(model, name="the model"):
    """What translates with ``model``: a :class:`SentenceTranslator` where its vocabulary is a
    corpus's, a :class:`QuestionAnswerer` where it is the book's characters. ``name`` (its file)
    is what errors call it."""
    if isinstance(model.vocab, TokenVocab):
        return SentenceTranslator(model, name)
    return QuestionAnswerer(model, name)


def translate_lines(model, lines, options=DecodeOptions(), skip_empty=False, name="the model"):
    """The :class:`Translations` of ``lines`` by a saved model of either kind."""
    return translator(model, name).translate(lines, options, skip_empty)


def translate_sentences(model, sentences, options=DecodeOptions(), skip_empty=False):
    """The :class:`Translations` of raw sentences by a model trained on a parallel corpus."""
    return SentenceTranslator(model).translate(sentences, options, skip_empty)


class SentenceTranslator:
    """Raw sentences in, their translations out, for a model trained on a parallel corpus
    (``model.vocab`` the targets' TokenVocab, ``model.source_vocab`` the sources')."""

    #: Translations may be searched for with beams.
    beams = True

    def __init__(self, model, name="the model"):
        self.model, self.name = model, name
        self.vocab = model.vocab
        self.source_vocab = getattr(model, "source_vocab", None) or model.vocab
        self.meta = getattr(model, "meta", {})

    def translate(self, sentences, options=DecodeOptions(), skip_empty=False):
        """The :class:`Translations` of ``sentences``, decoded as ``options`` say in batches of
        sentences of similar lengths, in the order given. A sentence without tokens is a
        ValueError, or with ``skip_empty`` translated as the empty string."""
        vocab, source_vocab, n_best = self.vocab, self.source_vocab, options.n_best
        sources = []
        for text in sentences:
            tokens = source_vocab.tokenize(text)
            if not tokens and not skip_empty:
                raise ValueError(f"{text!r} holds no {source_vocab.unit} to translate")
            sources.append(tokens)
        unknown = source_vocab.unknown(t for tokens in sources for t in tokens)
        real = [i for i, tokens in enumerate(sources) if tokens]
        ids = [source_vocab.encode(sources[i]) for i in real]
        if self.meta.get("reversed_input"):
            ids = [row[::-1] for row in ids]
        limit = (self.meta.get("max_output_length")
                 or 2 * max((len(r) for r in ids), default=0) + 10)
        options = options.limited(limit)
        shape = (len(sources), n_best, options.max_length) if n_best > 1 else (
            len(sources), options.max_length)
        out = numpy.full(shape, vocab.pad_id, dtype=numpy.int32)
        scores = numpy.zeros((len(sources), n_best)) if options.beam > 1 else None
        if ids:
            decoded = decode(self.model, Sequences(ids, vocab.pad_id), vocab.bos_id,
                             vocab.eos_id, options)
            out[real] = decoded.ids
            if scores is not None:
                scores[real] = decoded.scores
        texts = [vocab.decode_text(row) if n_best == 1 else [vocab.decode_text(r) for r in row]
                 for row in out]
        for i in set(range(len(sources))) - set(real):
            texts[i] = "" if n_best == 1 else [""] * n_best
        return Translations(texts, sources, out, unknown,
                            None if scores is None else scores.tolist())

    def attention(self, translations):
        """(weights (answer, source), the source's tokens, the answer's tokens, the answer) of
        the best translation of the first sentence, just translated alone."""
        ids = translations.ids[0] if translations.ids.ndim == 2 else translations.ids[0, 0]
        text = translations.texts[0]
        source, answer = translations.sources[0], answer_tokens(self.vocab, ids)
        return (attention_map(self.model, source, answer, self.name), source, answer,
                text if isinstance(text, str) else text[0])


class QuestionAnswerer:
    """Questions in the book's fixed-width format in, greedy answers out, for a model trained on
    them (``model.vocab`` a Vocab with the start symbol ``_``; ``model.meta``:
    ``question_width``, ``answer_width``, ``reversed_input``)."""

    #: Answers are decoded greedily.
    beams = False

    def __init__(self, model, name="the model"):
        self.model, self.name = model, name

    def translate(self, questions, options=DecodeOptions(), skip_empty=False):
        """The :class:`Translations` of ``questions``: each answer without its padding (only
        greedy decoding applies); a question without characters is a ValueError, or with
        ``skip_empty`` answered by the empty string."""
        keep = [i for i, q in enumerate(questions) if not skip_empty or q.strip()]
        answers = answer_questions(self.model, [questions[i] for i in keep], self.name)
        texts = [""] * len(questions)
        for i, answer in zip(keep, answers):
            texts[i] = answer.rstrip()
        width = self.model.meta["question_width"] if keep else 0
        vocab = self.model.vocab
        ids = numpy.array([vocab.encode(a) for a in answers], dtype=numpy.int32)
        return Translations(texts, [questions[i].ljust(width) for i in keep], ids, [])

    def attention(self, translations):
        """(weights (answer, question), the question's characters, the answer's, the answer)
        of the first question, just answered alone."""
        source, answer = translations.sources[0], self.model.vocab.decode(translations.ids[0])
        return (attention_map(self.model, source, answer, self.name), source, answer,
                answer.strip())


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
    return [vocab.decode(asnumpy(model.generate_batch(xs, start_id, answer_width - 1))[0])
            for xs in encoded]


def attention_map(model, source, answer, name="the model"):
    """The attention weights (len(answer), len(source)) of the last decoded batch's first row,
    the source in reading order (``source``, ``answer``: its tokens or characters, as decoded);
    ValueError for a model without attention."""
    weights = model.attention_weights
    if weights is None:
        raise ValueError(f"{name} holds a {model.kind} model, which has no attention to draw "
                         "(the attention and bahdanau models have)")
    weights = asnumpy(weights)[0][:len(answer), :len(source)]
    return weights[:, ::-1] if getattr(model, "meta", {}).get("reversed_input") else weights


def answer_tokens(vocab, ids):
    """The tokens of one translation (output ids of a :class:`~s2sxp.vocab.TokenVocab`) as its
    attention map labels them: with its closing ``</s>`` where it has one."""
    row = list(ids)
    tokens = vocab.decode(row)
    return tokens + [vocab.tokens[vocab.eos_id]] if vocab.eos_id in row else tokens
