"""What the translation service accepts and answers, apart from HTTP: the limits a server keeps
(:class:`Limits`, one flag each), a request's JSON read and held to them (:func:`read_request`,
a :class:`BadRequest` naming the first thing wrong) and a sentence's answer as JSON
(:func:`answer`).

A request is a JSON object with ``text`` (one sentence) or ``texts`` (a list of them) and, as
``s2sxp translate`` takes them, ``beam``, ``n_best``, ``length_penalty``, ``early_stop`` and
``max_length``; ``attention: true`` asks for each sentence's attention weights with its source
and target tokens.
"""
import json
import math
from dataclasses import dataclass

from ..decoding import DecodeOptions
from ..settings import setting


@dataclass(frozen=True)
class Limits:
    """How much a server takes on: per request, per batch and waiting."""

    batch_size: int = setting(64, "translate at most N sentences of waiting requests together "
                              "(a request's sentences are never split)", form="count",
                              metavar="N")
    batch_wait: float = setting(5.0, "after a request arrives, wait at most MS milliseconds for "
                                "others to join its batch", form="number", metavar="MS",
                                rule=lambda v: None if v >= 0 else f"must be 0 or more, got {v}")
    max_queue: int = setting(1024, "sentences that may wait for a batch; a request beyond them "
                             "is answered 503 with Retry-After", form="count", metavar="N")
    max_body: int = setting(1_000_000, "the largest request body, in bytes (beyond: 413)",
                            form="count", metavar="BYTES")
    max_sentences: int = setting(256, "the most sentences in one request", form="count",
                                 metavar="N")
    max_chars: int = setting(1000, "the most characters in one sentence", form="count",
                             metavar="N")
    max_beam: int = setting(16, "the widest beam a request may ask for", form="count",
                            metavar="K")
    max_length: int = setting(200, "the most tokens a request may ask a translation to take "
                              "(its max_length; unasked, the model's own limit applies)",
                              form="count", metavar="N")


#: The options a request may give, each with its type in words.
OPTIONS = {"beam": "a whole number", "n_best": "a whole number",
           "length_penalty": "a finite number", "early_stop": "true or false",
           "max_length": "a whole number", "attention": "true or false"}


class BadRequest(ValueError):
    """A request the service cannot take, said in one line (answered 400)."""


@dataclass(frozen=True)
class Request:
    """A request as read: its ``sentences``, whether it gave one ``text`` (``single``), its
    :class:`~s2sxp.decoding.DecodeOptions` and whether it asks for the ``attention``."""

    sentences: list
    single: bool
    options: DecodeOptions
    attention: bool = False


def read_request(body, limits, beams=True):
    """The :class:`Request` in the bytes ``body``; BadRequest for anything else. ``beams``: whether
    the model searches with beams (a model of the book's questions decodes greedily)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadRequest(f"the body is not UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise BadRequest(f"the body is not JSON ({e.msg}: line {e.lineno} column {e.colno})"
                         ) from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object such as {\"text\": \"...\"}")
    unknown = sorted(set(value) - {"text", "texts", *OPTIONS})
    if unknown:
        raise BadRequest(f"unknown option {unknown[0]!r} (known: text, texts, "
                         f"{', '.join(OPTIONS)})")
    sentences, single = _sentences(value, limits)
    for name, words in OPTIONS.items():
        if name in value and not _is(value[name], words):
            raise BadRequest(f"{name} must be {words}, got {json.dumps(value[name])}")
    options = _options(value, limits, beams)
    return Request(sentences, single, options, bool(value.get("attention", False)))


def _sentences(value, limits):
    if ("text" in value) == ("texts" in value):
        raise BadRequest("give either \"text\" (a sentence) or \"texts\" (a list of them)")
    if "text" in value:
        texts, single = [value["text"]], True
        if not isinstance(texts[0], str) or not texts[0].strip():
            raise BadRequest(f"text must be a sentence, got {json.dumps(texts[0])[:60]}")
    else:
        texts, single = value["texts"], False
        if not isinstance(texts, list) or not texts or not all(
                isinstance(t, str) for t in texts):
            raise BadRequest("texts must be a list of one or more sentences (strings)")
        if len(texts) > limits.max_sentences:
            raise BadRequest(f"texts holds {len(texts)} sentences; this server takes at most "
                             f"{limits.max_sentences} a request")
    for n, text in enumerate(texts):
        if len(text) > limits.max_chars:
            where = "text" if single else f"texts[{n}]"
            raise BadRequest(f"{where} has {len(text)} characters; this server takes at most "
                             f"{limits.max_chars} a sentence")
    return texts, single


def _is(value, words):
    if words == "true or false":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) if words == "a whole number" else math.isfinite(value)


def _options(value, limits, beams):
    beam, n_best, max_length = value.get("beam", 1), value.get("n_best", 1), value.get(
        "max_length")
    if not 1 <= beam <= limits.max_beam:
        raise BadRequest(f"beam must be from 1 to this server's limit of {limits.max_beam}, "
                         f"got {beam}")
    if beam > 1 and not beams:
        raise BadRequest("beam is for models trained on a parallel corpus; this one answers "
                         "fixed-width questions, decoded greedily")
    if not 1 <= n_best <= beam:
        raise BadRequest(f"n_best must be from 1 to the beam ({beam}), got {n_best}")
    if max_length is not None and not 1 <= max_length <= limits.max_length:
        raise BadRequest(f"max_length must be from 1 to this server's limit of "
                         f"{limits.max_length}, got {max_length}")
    return DecodeOptions(beam=beam, n_best=n_best, max_length=max_length,
                         length_penalty=float(value.get("length_penalty", 1.0)),
                         early_stop=value.get("early_stop", False))


def answer(translations, i, blank=False):
    """The JSON of sentence ``i`` of ``translations`` (:class:`~s2sxp.translation.Translations`):
    its ``translation`` and ``score`` (None after greedy decoding, or for a ``blank`` sentence,
    translated as the empty string) and, where several were asked for, the ``n_best`` list of
    ``{"translation", "score"}``."""
    texts = translations.texts[i]
    scores = None if translations.scores is None or blank else translations.scores[i]
    if isinstance(texts, str):
        return {"translation": texts, "score": None if scores is None else scores[0]}
    best = [{"translation": t, "score": None if scores is None else s}
            for t, s in zip(texts, scores or [None] * len(texts))]
    return {"translation": texts[0], "score": best[0]["score"], "n_best": best}


def merged(answers, single):
    """The body of a request's answer from its sentences' ``answers``: the one answer for a
    ``text``; for ``texts``, ``translations`` and ``scores`` and, where given, each one's
    ``n_best`` and ``attention`` as lists."""
    if single:
        return answers[0]
    body = {"translations": [a["translation"] for a in answers],
            "scores": [a["score"] for a in answers]}
    for key in ("n_best", "attention"):
        if key in answers[0]:
            body[key] = [a[key] for a in answers]
    return body
