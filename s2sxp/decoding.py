"""Decoding: greedy and beam search over a whole batch at once, with length normalisation, and
over many questions or sentences in batches (:func:`decode`), as a :class:`DecodeOptions` says.

Greedy decoding and beam search drive a model's decoder through three calls, which every decoder in
:mod:`s2sxp.models` has::

    decoder.start(enc, lengths, steps)   ready to decode from the encoder's output
    decoder.step(ids (N, 1), t)          -> scores (N, 1, V) of step t; ``step_weights``, the
                                            step's attention weights (N, T_enc), or None
    decoder.reorder(index (N,))          row n continues from row index[n]'s recurrent state

``reorder`` moves only the recurrent state: row n and row index[n] must share their encoder
input, as the beams of one source do.

Beam search keeps the ``beam`` best hypotheses of each source by their summed log-probability.
A hypothesis that has produced ``end_id`` is finished: it stays in its beam, continued by
``fill_id`` at no cost, so that it competes with the unfinished ones on its score. When every
beam has finished (or after ``steps`` steps) each source's answer is the beam with the best
score / length ** length_penalty, the length counting the tokens up to and including
``end_id`` (``length_penalty`` 0: the plain sum, 1: the mean log-probability per token).

With ``early_stop``, a source stops as soon as its best beam by that measure (its ``n_best``
best) has finished, as OpenNMT and JoeyNMT stop: the beams still open are kept as
they are, and a batch ends when every source has stopped, not when the last of its weakest beams
ends. With ``length_penalty`` 0 this changes no answer (an open beam's sum can only fall); with
a penalty an open beam could still have overtaken the finished one, which is why the search goes
on until every beam has finished unless asked.
"""
from dataclasses import dataclass, replace

import numpy

from .backend import asnumpy, get_array_module
from .batches import row_lengths
from .settings import SettingError, flag
from .distributed import SINGLE
from .progress import progress_bar


def greedy(decoder, xp, N, start_id, steps, end_id=None, fill_id=None):
    """Each step's argmax fed to the next -> ids (N, steps), attention weights (N, t, T_enc) or
    None. With ``end_id``, a row that has produced it is continued by ``fill_id`` (default:
    ``end_id``), and decoding stops once every row has."""
    fill = end_id if fill_id is None else fill_id
    ids = xp.full((N, 1), start_id, dtype=numpy.int32)
    sampled = xp.full((N, steps), -1 if end_id is None else fill, dtype=numpy.int32)
    weights = None
    done = None
    t = -1
    for t in range(steps):
        ids = decoder.step(ids, t).argmax(axis=2).astype(numpy.int32)
        if done is not None:
            ids[done] = fill
        sampled[:, t] = ids[:, 0]
        weights = _keep_weights(weights, decoder.step_weights, t, N, steps)
        if end_id is not None:
            done = ids[:, 0] == end_id if done is None else done | (ids[:, 0] == end_id)
            if bool(done.all()):
                break
    return sampled, None if weights is None else weights[:, :t + 1]


def _keep_weights(weights, step_weights, t, N, steps):
    if step_weights is None:
        return None
    if weights is None:
        xp = get_array_module(step_weights)
        weights = xp.empty((N, steps, step_weights.shape[-1]), dtype=step_weights.dtype)
    weights[:, t] = step_weights
    return weights


#: Questions decoded at once unless the options say: the book's questions of one width all take the
#: same steps, and large batches spread the cost of each step's Python over more rows; sentences of
#: many lengths end at different steps, and a batch runs until its last hypothesis ends, every row
#: with it, so smaller batches waste less (measured: benchmarks/results/decoding/README.md).
BATCH_SIZES = {"fixed": 1000, "sentences": 100}


@dataclass(frozen=True)
class DecodeOptions:
    """How answers are decoded, passed whole: greedy (``beam`` 1) or beam search, ranking
    hypotheses by log-probability / length ** ``length_penalty``, stopping a sentence once its
    best hypotheses have ended where ``early_stop``, giving the ``n_best`` best of each (beam
    search); at most ``max_length`` tokens (None: the data's limit, :meth:`limited`), in batches
    of ``batch_size`` questions (None: :data:`BATCH_SIZES`)."""

    beam: int = 1
    length_penalty: float = 1.0
    early_stop: bool = False
    n_best: int = 1
    max_length: int = None
    batch_size: int = None

    def __post_init__(self):
        for name in ("beam", "n_best"):
            if int(getattr(self, name)) < 1:
                raise SettingError(name, f"must be at least 1, got {getattr(self, name)}")
        if self.n_best > self.beam:
            raise SettingError("n_best", f"{self.n_best} needs a beam of as many "
                               f"({flag('beam')} {self.n_best} or more)")

    def limited(self, steps):
        """These options decoding at most ``steps`` tokens, or fewer where they say so."""
        steps = int(steps) if self.max_length is None else min(int(steps), self.max_length)
        return replace(self, max_length=steps)


def beam_search(decoder, xp, N, start_id, end_id, fill_id, options):
    """The decoder started on N·beam rows, the beams of source n in rows n·beam .. n·beam + beam-1
    (``beam``, ``max_length`` steps, ``length_penalty``, ``n_best`` and ``early_stop`` of the
    :class:`DecodeOptions` ``options``) -> ids (N, steps) of each source's best hypothesis
    (``fill_id`` after its ``end_id``), their attention weights (N, t, T_enc) or None, and their
    normalised scores (N,); with ``n_best`` above 1, ids (N, n_best, steps) and scores
    (N, n_best) of the n_best best, best first.

    Each step takes the log-probabilities in place of the decoder's scores and the best ``beam``
    tokens of each beam by ``beam`` passes of argmax (the best ``beam`` of all beam·V candidates
    are among them), so that no array of the size of the scores is made anew at each step; the
    attention weights are kept per step with each hypothesis's parent and followed back at the
    end."""
    k, steps, penalty = options.beam, options.max_length, options.length_penalty
    scores = xp.zeros((N, k), dtype=numpy.float64)
    scores[:, 1:] = -numpy.inf                      # the k beams start as one hypothesis
    tokens = xp.full((N, k, steps), fill_id, dtype=numpy.int32)
    lengths = xp.zeros((N, k), dtype=numpy.int64)
    finished = xp.zeros((N, k), dtype=bool)
    parents, weights_at = [], []                    # per step: (N, k), (N, k, T_enc)
    ids = xp.full((N * k, 1), start_id, dtype=numpy.int32)
    rows = xp.arange(N)[:, None] * k
    every = xp.arange(N * k)
    exp_buffer = None
    for t in range(steps):
        logp = decoder.step(ids, t)[:, 0, :]        # (N·k, V), overwritten below
        if exp_buffer is None:
            exp_buffer = xp.empty_like(logp)
        logp -= logp.max(axis=1, keepdims=True)     # log softmax, in place
        xp.exp(logp, out=exp_buffer)
        logp -= xp.log(exp_buffer.sum(axis=1, keepdims=True))
        beams = logp.reshape(N, k, -1)
        beams[finished] = -numpy.inf
        beams[finished, fill_id] = 0
        best, best_logp = _best_tokens(xp, logp, k, every)
        kk = best.shape[1]
        candidates = (scores[:, :, None] + best_logp.reshape(N, k, kk)).reshape(N, k * kk)
        order = xp.argsort(-candidates, axis=1, kind="stable")[:, :k]
        scores = xp.take_along_axis(candidates, order, axis=1)
        parent = order // kk
        token = xp.take_along_axis(best.reshape(N, k * kk), order, axis=1).astype(numpy.int32)
        tokens = xp.take_along_axis(tokens, parent[:, :, None], axis=1)
        tokens[:, :, t] = token
        was_finished = xp.take_along_axis(finished, parent, axis=1)
        lengths = xp.take_along_axis(lengths, parent, axis=1) + ~was_finished
        finished = was_finished | (token == end_id)
        if options.early_stop:                      # sources whose best beams have finished
            ranked = xp.argsort(-scores / xp.maximum(lengths, 1) ** penalty, axis=1,
                                kind="stable")[:, :options.n_best]
            finished |= xp.take_along_axis(finished, ranked, axis=1).all(axis=1)[:, None]
        index = (rows + parent).reshape(-1)
        if decoder.step_weights is not None:
            parents.append(parent)
            weights_at.append(decoder.step_weights[index].reshape(N, k, -1))
        decoder.reorder(index)
        ids = token.reshape(N * k, 1)
        if bool(finished.all()):
            break
    normalised = scores / xp.maximum(lengths, 1) ** penalty
    return _best_of(xp, tokens, normalised, parents, weights_at, options.n_best)


def _best_tokens(xp, logp, k, every):
    """(the ids, their log-probabilities) of each row's best ``k`` tokens of ``logp`` (rows, V),
    best first, taken by ``k`` passes of argmax, each marking its pick off in ``logp``;
    ``every``: the index of each row."""
    kk = min(k, logp.shape[1])
    best = xp.empty((logp.shape[0], kk), dtype=numpy.int64)
    best_logp = xp.empty((logp.shape[0], kk), dtype=numpy.float64)
    for j in range(kk):
        best[:, j] = logp.argmax(axis=1)
        best_logp[:, j] = logp[every, best[:, j]]
        logp[every, best[:, j]] = -numpy.inf
    return best, best_logp


def _best_of(xp, tokens, normalised, parents, weights_at, n_best):
    """The tokens, attention weights and scores :func:`beam_search` returns: each source's best
    hypothesis (its weights followed back along its parents), or its n_best best."""
    N = tokens.shape[0]
    chosen = normalised.argmax(axis=1)
    n = xp.arange(N)
    weights = None
    if weights_at:
        weights = xp.empty((N, len(weights_at), weights_at[0].shape[2]),
                           dtype=weights_at[0].dtype)
        b = chosen
        for step in range(len(weights_at) - 1, -1, -1):   # back along the chosen hypotheses
            weights[:, step] = weights_at[step][n, b]
            b = parents[step][n, b]
    if n_best == 1:
        return tokens[n, chosen], weights, normalised[n, chosen]
    ranked = xp.argsort(-normalised, axis=1, kind="stable")[:, :n_best]
    return (xp.take_along_axis(tokens, ranked[:, :, None], axis=1), weights,
            xp.take_along_axis(normalised, ranked, axis=1))


@dataclass
class Decoded:
    """What :func:`decode` gives, on the host: ``ids`` (N, max_length) of each question's answer,
    or (N, n_best, max_length) of its n_best best, best first; ``scores`` (N, n_best), their
    normalised log-probabilities, where beam search gave them (greedy decoding ranks nothing)."""

    ids: numpy.ndarray
    scores: numpy.ndarray = None


def decode(model, x, start_id, end_id=None, options=DecodeOptions(), progress=None,
           world=SINGLE):
    """The :class:`Decoded` answers to every question in ``x`` (an array or
    :class:`~s2sxp.batches.Sequences`), decoded as ``options`` say (its ``max_length`` given),
    each answer ending at ``end_id`` when one is given. Sequences are decoded shortest first, so
    that each batch carries little padding; the answers come back in the order of ``x``. A
    progress bar is drawn on ``progress`` when it is a terminal.

    Over several ranks (``world``, :mod:`s2sxp.distributed`), each decodes every K-th question
    of the shortest-first order, and every rank gets all the answers."""
    if options.max_length is None:
        raise ValueError("decoding needs the most tokens an answer may take (max_length)")
    N, steps, n_best = len(x), options.max_length, options.n_best
    lengths = row_lengths(x)
    batch_size = options.batch_size or BATCH_SIZES["fixed" if lengths is None else "sentences"]
    order = numpy.arange(N) if lengths is None else numpy.argsort(lengths, kind="stable")
    order = order[world.rank::world.size]
    out = numpy.empty((N, n_best, steps) if n_best > 1 else (N, steps), dtype=numpy.int32)
    scores = numpy.empty((N, n_best)) if options.beam > 1 else None
    beam = options.beam
    bar = progress_bar(len(order), "eval" if beam == 1 else f"beam {beam}", progress)
    for i in range(0, len(order), batch_size):
        rows = order[i:i + batch_size]
        if beam == 1:
            ids = model.generate_batch(x[rows], start_id, steps, end_id=end_id)
        else:
            ids = model.beam_search(x[rows], start_id, end_id, steps, beam=beam,
                                    length_penalty=options.length_penalty, n_best=n_best,
                                    early_stop=options.early_stop)
            if scores is not None:
                scores[rows] = asnumpy(model.beam_scores).reshape(len(rows), n_best)
        out[rows] = asnumpy(ids)
        if bar is not None:
            bar.update(min(i + batch_size, len(order)))
    if bar is not None:
        bar.close(len(order))
    if world.size > 1:
        for rows, ids, best in world.allgather(
                (order, out[order], None if scores is None else scores[order]),
                "gathering the decoded answers"):
            out[rows] = ids
            if scores is not None:
                scores[rows] = best
    return Decoded(out, scores)
