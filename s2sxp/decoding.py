"""Decoding: greedy and beam search over a whole batch at once, with length normalisation, and
over many questions or sentences in batches (:func:`decode`).

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
import numpy

from .backend import asnumpy, get_array_module
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


def log_softmax(x):
    """log softmax over the last axis, shifted by the maximum for stability."""
    xp = get_array_module(x)
    shift = x - x.max(axis=-1, keepdims=True)
    return shift - xp.log(xp.exp(shift).sum(axis=-1, keepdims=True))


def beam_search(decoder, xp, N, beam, start_id, end_id, steps, fill_id, length_penalty=1.0,
                n_best=1, early_stop=False):
    """The decoder started on N·beam rows, the beams of source n in rows n·beam .. n·beam + beam-1
    -> ids (N, steps) of each source's best hypothesis (``fill_id`` after its ``end_id``), their
    attention weights (N, t, T_enc) or None, and their normalised scores (N,); with ``n_best``
    above 1, ids (N, n_best, steps) and scores (N, n_best) of the n_best best, best first.

    Each step takes the log-probabilities in place of the decoder's scores and the best ``beam``
    tokens of each beam by ``beam`` passes of argmax (the best ``beam`` of all beam·V candidates
    are among them), so that no array of the size of the scores is made anew at each step; the
    attention weights are kept per step with each hypothesis's parent and followed back at the
    end."""
    k = beam
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
    t = -1
    for t in range(steps):
        logp = decoder.step(ids, t)[:, 0, :]        # (N·k, V), overwritten below
        V = logp.shape[1]
        if exp_buffer is None:
            exp_buffer = xp.empty_like(logp)
        logp -= logp.max(axis=1, keepdims=True)     # log softmax, in place
        xp.exp(logp, out=exp_buffer)
        logp -= xp.log(exp_buffer.sum(axis=1, keepdims=True))
        beams = logp.reshape(N, k, V)
        beams[finished] = -numpy.inf
        beams[finished, fill_id] = 0
        kk = min(k, V)
        best = xp.empty((N * k, kk), dtype=numpy.int64)
        best_logp = xp.empty((N * k, kk), dtype=numpy.float64)
        for j in range(kk):                         # each beam's best kk tokens, best first
            best[:, j] = logp.argmax(axis=1)
            best_logp[:, j] = logp[every, best[:, j]]
            logp[every, best[:, j]] = -numpy.inf
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
        if early_stop:                              # sources whose best beams have finished
            ranked = xp.argsort(-scores / xp.maximum(lengths, 1) ** length_penalty, axis=1,
                                kind="stable")[:, :n_best]
            finished |= xp.take_along_axis(finished, ranked, axis=1).all(axis=1)[:, None]
        index = (rows + parent).reshape(-1)
        if decoder.step_weights is not None:
            parents.append(parent)
            weights_at.append(decoder.step_weights[index].reshape(N, k, -1))
        decoder.reorder(index)
        ids = token.reshape(N * k, 1)
        if bool(finished.all()):
            break
    normalised = scores / xp.maximum(lengths, 1) ** length_penalty
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


#: Questions decoded at once by default: the book's questions of one width all take the same
#: steps, and large batches spread the cost of each step's Python over more rows; sentences of
#: many lengths end at different steps, and a batch runs until its last hypothesis ends, every
#: row with it, so smaller batches waste less (on the shared Japanese-English corpus, beam 5
#: over 1,000 test sentences took 24.3 s in batches of 1,000 and 4.7-5.0 s in batches of 100;
#: greedy 3.0 s and 1.1 s: benchmarks/results/README.md).
BATCH_SIZES = {"fixed": 1000, "sentences": 100}


def decode(model, x, start_id, max_length, end_id=None, beam=1, length_penalty=1.0,
           batch_size=None, progress=None, n_best=1, world=SINGLE, early_stop=False):
    """Answers (host ids, (N, max_length)) for every question in ``x`` (an array or
    :class:`~s2sxp.corpus.Sequences`), decoded in batches of ``batch_size`` questions (default
    :data:`BATCH_SIZES`): greedy
    (``beam`` 1) or by beam search, each answer ending at ``end_id`` when one is given. Sequences
    are decoded shortest first, so that each batch carries little padding; the answers come back
    in the order of ``x``. A progress bar is drawn on ``progress`` when it is a terminal.

    With ``n_best`` above 1 (beam search), the n_best best answers of each question, best
    first: (ids (N, n_best, max_length), their normalised log-probabilities (N, n_best)).

    Over several ranks (``world``, :mod:`s2sxp.distributed`), each decodes every K-th question
    of the shortest-first order, and every rank gets all the answers."""
    N = len(x)
    lengths = getattr(x, "lengths", None)
    if batch_size is None:
        batch_size = BATCH_SIZES["fixed" if lengths is None else "sentences"]
    order = numpy.arange(N) if lengths is None else numpy.argsort(lengths, kind="stable")
    order = order[world.rank::world.size]
    out = numpy.empty((N, n_best, max_length) if n_best > 1 else (N, max_length),
                      dtype=numpy.int32)
    scores = numpy.empty((N, n_best)) if n_best > 1 else None
    bar = progress_bar(len(order), "eval" if beam == 1 else f"beam {beam}", progress)
    for i in range(0, len(order), batch_size):
        rows = order[i:i + batch_size]
        if beam == 1:
            ids = model.generate(x[rows], start_id, max_length, end_id=end_id)
        else:
            ids = model.beam_search(x[rows], start_id, end_id, max_length, beam=beam,
                                    length_penalty=length_penalty, n_best=n_best,
                                    early_stop=early_stop)
            if scores is not None:
                scores[rows] = asnumpy(model.beam_scores)
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
    return out if scores is None else (out, scores)
