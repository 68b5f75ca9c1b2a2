"""What every model shares: parameter initialisation, flat parameter/gradient buffers, the book's
API (``forward(xs, ts) -> loss``, ``backward()``, ``params``, ``grads``, ``generate`` of one
question, ``save_params`` / ``load_params``), batched greedy decoding and beam search, and the
split of a batch over threads.

A model's arrays live where it was built: on the active backend's array module in its float type
(``backend.use``), or where ``xp`` and ``dtype`` say. From then on the model follows its own
arrays, whatever the active backend becomes."""
import contextlib
import functools

import numpy

from .. import backend, decoding, parallel, pickles
from . import options
from ..layers import CELLS, TimeEmbedding, TimeSoftmaxWithLoss
from ..layers.dropout import Noise, row_seeds


class Initializer:
    """The book's initialisation, drawn on the host from one seeded generator (so that every backend
    starts from the same weights) and moved to the array module ``xp`` in the float type
    ``dtype`` (by default the active backend's)."""

    def __init__(self, seed=None, xp=None, dtype=None):
        self.rng = numpy.random.default_rng(seed)
        self.xp = backend.xp if xp is None else xp
        self.dtype = numpy.dtype(backend.dtype if dtype is None else dtype)

    def randn(self, *shape, scale=1.0):
        return self.xp.asarray(self.rng.standard_normal(shape) * scale, dtype=self.dtype)

    def zeros(self, *shape):
        return self.xp.zeros(shape, dtype=self.dtype)

    def embedding(self, V, D):
        return TimeEmbedding(self.randn(V, D, scale=0.01))

    def rnn(self, cell, D, H, stateful, impl):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        layer, gates = CELLS[cell]
        return layer(self.randn(D, gates * H, scale=1 / numpy.sqrt(D)),
                     self.randn(H, gates * H, scale=1 / numpy.sqrt(H)),
                     self.zeros(gates * H), stateful=stateful, impl=impl)


def flatten(layers):
    """Put every parameter (and every gradient) of ``layers`` into one contiguous buffer and rebind
    each layer's arrays to views of it, so that clipping and the optimiser can treat the whole model
    as one array. Returns (params, grads, flat_params, flat_grads) in layer order."""
    arrays = [p for layer in layers for p in layer.params]
    xp = backend.get_array_module(arrays[0])
    sizes = [p.size for p in arrays]
    flat_params = xp.empty(sum(sizes), dtype=arrays[0].dtype)
    flat_grads = xp.zeros_like(flat_params)
    params, grads = [], []
    offset = 0
    for layer in layers:
        for i, p in enumerate(layer.params):
            view = flat_params[offset:offset + p.size].reshape(p.shape)
            view[...] = p
            layer.params[i] = view
            layer.grads[i] = flat_grads[offset:offset + p.size].reshape(p.shape)
            params.append(view)
            grads.append(layer.grads[i])
            offset += p.size
    return params, grads, flat_params, flat_grads


class Generation:
    """What a model answers with: greedy decoding (:meth:`generate_batch`) and beam search
    (:meth:`beam_search`) of a whole batch at once (s2sxp.decoding), its rows split over threads
    as :meth:`Seq2seqBase.forward` splits them, and the attention weights of the answers; and the
    book's :meth:`generate` of one question."""

    def generate_batch(self, xs, start_id, sample_size, end_id=None):
        """Greedy decoding of every question in ``xs`` (N, T) at once -> ids (N, sample_size).
        With ``end_id``, a row stops at it (and is filled with the padding id, or ``end_id``,
        after it), and decoding stops once every row has."""
        return self._decode(xs, functools.partial(self._greedy_share, start_id=start_id,
                                                  steps=sample_size, end_id=end_id))

    def generate(self, xs, start_id, sample_size):
        """The book's generate: the greedy answer to one question ``xs`` (1, T) as a list of
        ``sample_size`` ids (ints), as its ``eval_seq2seq`` reads it; :meth:`generate_batch`
        answers a batch at once."""
        shape = tuple(xs.shape) if hasattr(xs, "shape") else numpy.shape(xs)
        if len(shape) not in (1, 2) or len(shape) == 2 and shape[0] != 1:
            raise ValueError(f"{type(self).__name__}: generate answers one question, shape "
                             f"(1, T), as the book's does; got shape {shape} (a batch: "
                             "generate_batch(xs, start_id, sample_size))")
        return backend.asnumpy(self.generate_batch(xs, start_id, sample_size))[0].tolist()

    def beam_search(self, xs, start_id, end_id, max_length, beam=5, length_penalty=1.0,
                    n_best=1, early_stop=False):
        """Beam search over every question in ``xs`` (N, T) at once -> ids (N, max_length) of each
        question's best hypothesis, which ends at ``end_id`` (filled with the padding id after it)
        unless it ran out of steps; with ``n_best`` above 1, ids (N, n_best, max_length) of the
        n_best best, best first. ``length_penalty`` and ``early_stop``: see
        :mod:`s2sxp.decoding`.
        ``attention_weights`` then holds the weights of each best hypothesis, and ``beam_scores``
        the normalised log-probabilities of those returned, (N,) or (N, n_best)."""
        if int(beam) < 1:
            raise ValueError(f"beam width must be at least 1, got {beam}")
        if not 1 <= int(n_best) <= int(beam):
            raise ValueError(f"n_best must be from 1 to the beam width {beam}, got {n_best}")
        self.beam_scores = None
        options = decoding.DecodeOptions(int(beam), float(length_penalty), bool(early_stop),
                                         int(n_best), int(max_length))
        out = self._decode(xs, functools.partial(self._beam_share, start_id=start_id,
                                                 end_id=end_id, options=options))
        models = [self] if self._shares is None else [m for m, _ in self._shares]
        scores = [m._scores for m in models]
        self.beam_scores = scores[0] if len(scores) == 1 else self.xp.concatenate(scores)
        return out

    def _decode(self, xs, share):
        if not hasattr(xs, "ndim"):
            xs = numpy.asarray(xs)
        if xs.ndim == 1:
            xs = xs[None, :]                                   # one question, as in the book
        xs, lengths = self._source(xs)
        self._forward_kept = False
        with parallel.decoding():
            self._shares = shares = self._split(xs.shape[0])
            if shares is None:
                with self._region():
                    return share(self, xs, lengths)
            outs = parallel.run_parts([functools.partial(share, m, xs[rows], _rows(lengths, rows))
                                       for m, rows in shares])
        return self.xp.concatenate(outs, axis=0)

    @staticmethod
    def _greedy_share(model, xs, lengths, start_id, steps, end_id):
        with backend.flush_denormals():
            decoder = model.decoder
            decoder.start(model.encoder.forward(xs, lengths), lengths, steps)
            fill = model.pad_id if model.pad_id is not None else end_id
            ids, decoder.attention_weights = decoding.greedy(
                decoder, model.xp, xs.shape[0], start_id, steps, end_id, fill)
            return ids

    @staticmethod
    def _beam_share(model, xs, lengths, start_id, end_id, options):
        with backend.flush_denormals():
            xp, beam = model.xp, options.beam
            enc = xp.repeat(model.encoder.forward(xs, lengths), beam, axis=0)
            lengths = None if lengths is None else xp.repeat(lengths, beam)
            decoder = model.decoder
            decoder.start(enc, lengths, options.max_length)
            fill = model.pad_id if model.pad_id is not None else end_id
            ids, decoder.attention_weights, model._scores = decoding.beam_search(
                decoder, xp, xs.shape[0], start_id, end_id, fill, options)
            return ids

    @property
    def attention_weights(self):
        """Attention weights of the last forward/generate, (N, T_dec, T_enc), or None."""
        models = [self] if self._shares is None else [m for m, _ in self._shares]
        weights = [getattr(m.decoder, "attention_weights", None) for m in models]
        if len(weights) == 1 or weights[0] is None:
            return weights[0]
        return self.xp.concatenate(weights, axis=0)


class BookParams:
    """The book's parameter file (s2sxp.pickles): ``save_params`` and ``load_params`` as its
    ``BaseModel`` has them, both naming the file after the class by default."""

    def save_params(self, file_name=None):
        """Write the parameters as the book does: float16, a pickled list in ``params`` order,
        to ``file_name`` (default: the class's name + ``.pkl``); BookFileError, nothing written,
        where one is not finite in float16."""
        pickles.write(pickles.book_file_name(self, file_name), self)

    def load_params(self, file_name=None):
        """Read the parameters from a file the book's save_params (or :meth:`save_params`) wrote
        (default: the class's name + ``.pkl``), through the restricted reader of s2sxp.pickles:
        BookFileError where it holds anything but finite float arrays of this model's shapes."""
        params = pickles.read(pickles.book_file_name(self, file_name), self)
        for p, new in zip(self.params, params):
            p[...] = self.xp.asarray(new, dtype=p.dtype)


class Seq2seqBase(Generation, BookParams):
    """A model made of an ``encoder`` and a ``decoder``; subclasses build them in ``__init__`` and
    then call ``_finish()``. The encoder's ``forward(xs)`` returns what the decoder needs (its
    ``forward(xs, enc)`` / ``start`` and ``step``); the decoder's ``backward`` returns the
    gradient of that for the encoder's ``backward``.

    A model built with ``pad_id`` reads batches of sequences of different lengths, padded on the
    right with that id: the loss ignores padded targets, the attention gives padded encoder steps
    no weight, and the encoder's state is taken at each row's last real step, so that each row's
    loss and gradients are those of the row alone, unpadded. Without ``pad_id`` (the book's
    fixed-width data) every id is a real token.

    ``vocab_size`` is the target vocabulary's, over which the decoder's output runs; the
    encoder's embedding has ``source_vocab_size`` rows where sources have a vocabulary of their
    own (default: the same vocabulary as the targets, as in the book).

    On a multi-core CPU a fused model splits a batch it decodes (and, where ``S2S_THREADS`` asks
    for it, a batch it trains on) into one share of rows per thread (:mod:`s2sxp.parallel`): this
    model runs the first share and replicas of it the others, each replica the same model sharing
    this one's parameter arrays, with activations and gradients of its own. forward returns the
    mean loss over the whole batch, backward sums the replicas' gradients into this model's, and
    generate_batch joins their outputs: the results are those of one unsplit run, up to rounding.

    Every model (fused or reference) runs its forward, backward and decoding with numbers below
    the smallest normal float flushed to zero (:func:`s2sxp.backend.flush_denormals`): such
    numbers appear as gates and attention weights saturate, and the CPU's arithmetic on them is
    many times slower.
    """

    kind = None
    #: True where the fused model splits a batch over threads (see above; BLAS is then held to
    #: one thread, and to one thread also where a batch too small to split runs unsplit). The
    #: per-step references never split, so they keep BLAS's own threads.
    splits_batch = False
    #: The training settings this family is published with (the book's for its three models).
    #: ``lr_half_life``: the learning rate halves every that many iterations (0: constant);
    #: ``anneal_at``: once the validation accuracy has reached it, the rate halves after every
    #: epoch (0: never), so that a model that has learned stays there
    #: (benchmarks/results/convergence.md).
    recipe = {"lr": 0.001, "lr_half_life": 0, "anneal_at": 0.99, "reverse": True,
              "max_grad": 5.0, "optimizer": "adam"}

    @classmethod
    def batch_bytes(cls, N, T_enc, T_dec, H, V):
        """About how many bytes a training batch of N rows takes: the scores and their gradient
        over the vocabulary, the recurrent and attention states kept for backward."""
        return 4 * N * (3 * T_dec * V + 12 * (T_enc + T_dec) * H)

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="lstm", impl="fused",
                 seed=None, pad_id=None, *, source_vocab_size=None, label_smoothing=0.0,
                 xp=None, dtype=None):
        self.source_vocab_size = int(vocab_size if source_vocab_size is None
                                     else source_vocab_size)
        if pad_id is not None and not 0 <= int(pad_id) < min(int(vocab_size),
                                                             self.source_vocab_size):
            raise ValueError(f"pad_id {pad_id} is outside the vocabulary of {vocab_size}")
        self.pad_id = None if pad_id is None else int(pad_id)
        self.config = dict(vocab_size=int(vocab_size), wordvec_size=int(wordvec_size),
                           hidden_size=int(hidden_size), cell=cell)
        if self.pad_id is not None:
            self.config["pad_id"] = self.pad_id
        if self.source_vocab_size != int(vocab_size):
            self.config["source_vocab_size"] = self.source_vocab_size
        label_smoothing = options.checked("label_smoothing", label_smoothing)
        if label_smoothing:
            self.config["label_smoothing"] = label_smoothing
        self.impl = impl
        self.init = Initializer(seed, xp, dtype)
        self.noise = None           # the dropout layers' row seeds (layers/dropout.py), if any
        self._noise_seed = int(self.init.rng.integers(1 << 62)) if seed is None else int(seed)
        self._draws = 0             # forwards without keys so far (their dropout masks differ)
        self.loss_layer = TimeSoftmaxWithLoss(-1 if pad_id is None else self.pad_id,
                                              label_smoothing)
        self._forward_kept = False          # what backward needs: kept by forward, until used

    def _options(self, **values):
        """``values`` of this family's options, each checked (models/options.py); those that differ
        from the constructor's defaults are recorded in ``config``. Returns them checked."""
        defaults = options.defaults(type(self))
        values = {name: options.checked(name, value) for name, value in values.items()}
        self.config.update({k: v for k, v in values.items() if v != defaults[k]})
        return values

    def _noise(self, p):
        """The dropout layers' shared row seeds for a dropout rate ``p`` (None for 0)."""
        self.noise = Noise(p) if p else None
        return self.noise

    def _finish(self, layers):
        self.params, self.grads, self.flat_params, self.flat_grads = flatten(layers)
        self._layers = layers
        self._replicas = []
        self._shares = None         # [(model, rows)] of the last split forward or generate
        del self.init

    def _split(self, n):
        """[(model, rows)] covering a batch of n rows, one share per thread, or None where the batch
        is not split (reference kernels, CuPy, one thread, a small batch)."""
        if not self._threaded:
            return None
        rows = parallel.shares(self.xp, n)
        if len(rows) == 1:
            return None
        while len(self._replicas) < len(rows) - 1:
            self._replicas.append(self._replica())
        models = [self] + self._replicas[:len(rows) - 1]
        for replica in models[1:]:                 # this model's arrays, even if rebound since
            for mine, theirs in zip(self._layers, replica._layers):
                theirs.params[:] = mine.params
        return list(zip(models, rows))

    def _replica(self):
        """A model of the same kind and sizes whose layers will use this model's parameter arrays,
        with gradients of its own, on this model's array module and in its dtype."""
        replica = type(self)(**self.config, impl=self.impl, xp=self.xp,
                             dtype=self.flat_params.dtype)
        replica.params, replica.flat_params = self.params, self.flat_params
        replica.flat_grads = flat = self.xp.zeros_like(self.flat_grads)
        offset = 0
        for layer in replica._layers:
            for i, g in enumerate(layer.grads):
                layer.grads[i] = flat[offset:offset + g.size].reshape(g.shape)
                offset += g.size
        replica.grads = [g for layer in replica._layers for g in layer.grads]
        return replica

    @property
    def _threaded(self):
        """Whether this model spreads its work over threads: fused kernels of a family that does."""
        return self.splits_batch and self.impl == "fused"

    def _region(self):
        if self._threaded:
            return parallel.region(self.xp)
        return contextlib.nullcontext()

    @property
    def xp(self):
        return backend.get_array_module(self.flat_params)

    def _ids(self, a, what, min_length=1, ignore_label=None, V=None):
        """Integer ids (N, T) on the model's device, checked: a ValueError names ``what`` was wrong.
        Ids given as a NumPy array are checked against the vocabulary of V (default: the target
        vocabulary's size) too (``ignore_label`` is allowed besides); ids already on the GPU are
        not, to spare a synchronisation."""
        shape = getattr(a, "shape", None)
        if shape is None:
            a = numpy.asarray(a)
            shape = a.shape
        name = type(self).__name__
        if len(shape) != 2 or shape[0] < 1 or shape[1] < min_length:
            raise ValueError(f"{name}: {what} must be a batch of id sequences, shape (N, T) with "
                             f"N >= 1 and T >= {min_length}; got shape {tuple(shape)}")
        if not numpy.issubdtype(a.dtype, numpy.integer):
            raise ValueError(f"{name}: {what} must hold integer ids; got dtype {a.dtype}")
        if isinstance(a, numpy.ndarray):
            V = self.config["vocab_size"] if V is None else V
            bad = (a < 0) | (a >= V)
            if ignore_label is not None:
                bad &= a != ignore_label
            if bad.any():
                raise ValueError(f"{name}: {what} holds id {int(a[bad][0])}, outside the "
                                 f"vocabulary of {V} (0 to {V - 1})")
        return self.xp.asarray(a)

    def _source(self, xs):
        """(xs on the device, lengths (N,) on the device or None where no row is padded), checked:
        with ``pad_id``, padding may only follow a row's tokens, and no row may be empty."""
        if not hasattr(xs, "shape"):
            xs = numpy.asarray(xs)
        host = xs if isinstance(xs, numpy.ndarray) else None
        xs = self._ids(xs, "xs", V=self.source_vocab_size)
        if self.pad_id is None:
            return xs, None
        if host is None:                            # on the GPU: no check, no synchronisation
            return xs, (xs != self.pad_id).sum(axis=1)
        real = host != self.pad_id
        name = type(self).__name__
        bad = numpy.flatnonzero(~real[:, 0])
        if bad.size:
            raise ValueError(f"{name}: xs row {bad[0]} is empty (it starts with the padding id "
                             f"{self.pad_id})")
        bad = numpy.flatnonzero((real[:, 1:] & ~real[:, :-1]).any(axis=1))
        if bad.size:
            raise ValueError(f"{name}: xs row {bad[0]} has a token after padding (the padding id "
                             f"{self.pad_id} may only end a row)")
        lengths = real.sum(axis=1)
        if (lengths == host.shape[1]).all():
            return xs, None
        return xs, self.xp.asarray(lengths)

    def forward(self, xs, ts, keys=None):
        """Mean cross-entropy of the decoder fed ts[:, :-1] against ts[:, 1:] (teacher forcing).

        With dropout, ``keys`` (N,) (non-negative integers) name each row's masks
        (layers/dropout.py): the trainer gives each sentence of each epoch its own. Without
        them, each forward's rows get keys no earlier forward had."""
        xs, lengths = self._source(xs)
        ts = self._ids(ts, "ts", min_length=2, ignore_label=self.loss_layer.ignore_label)
        if ts.shape[0] != xs.shape[0]:
            raise ValueError(f"{type(self).__name__}: xs and ts must hold the same number of "
                             f"sequences; got {xs.shape[0]} and {ts.shape[0]}")
        self._forward_kept = False
        seeds = self._seeds(keys, xs.shape[0])
        self._shares = shares = self._split(xs.shape[0])
        if shares is None:
            with self._region():
                loss = self._forward_share(xs, ts, lengths, seeds)
        else:
            losses = parallel.run_parts([
                functools.partial(m._forward_share, xs[rows], ts[rows], _rows(lengths, rows),
                                  _rows(seeds, rows))
                for m, rows in shares])
            counts = [int(m.loss_layer.count) for m, _ in shares]    # targets in each mean
            loss = sum(l * c for l, c in zip(losses, counts)) / max(sum(counts), 1)
        self._forward_kept = True
        return loss

    @property
    def targets(self):
        """The number of targets the last forward's loss is the mean of (padding left out)."""
        shares = self._shares or [(self, None)]
        return sum(int(m.loss_layer.count) for m, _ in shares)

    def _seeds(self, keys, N):
        """The dropout layers' row seeds on the device for rows of ``keys``, or None without
        dropout."""
        if self.noise is None:
            return None
        if keys is None:
            keys = (self._draws << 32) + numpy.arange(N)
            self._draws += 1
        keys = numpy.asarray(backend.asnumpy(keys))
        if keys.shape != (N,) or not numpy.issubdtype(keys.dtype, numpy.integer) or (
                keys < 0).any():
            raise ValueError(f"{type(self).__name__}: keys must be {N} non-negative integers, "
                             f"one a row; got {keys.dtype} {keys.shape}")
        return self.xp.asarray(row_seeds(self._noise_seed, keys))

    def _forward_share(self, xs, ts, lengths, seeds=None):
        if self.noise is not None:
            self.noise.seeds = seeds
        try:
            with backend.flush_denormals():
                enc = self.encoder.forward(xs, lengths)
                score = self.decoder.forward(ts[:, :-1], enc, lengths)
                return self.loss_layer.forward(score, ts[:, 1:])
        finally:
            if self.noise is not None:
                self.noise.seeds = None             # decoding never drops

    def _backward_share(self, dout):
        with backend.flush_denormals():
            dscore = self.loss_layer.backward(dout)
            denc = self.decoder.backward(dscore)
            self.encoder.backward(denc)

    def backward(self, dout=1):
        """Gradients of the last forward's loss into ``grads``; once per forward, and not after a
        generate, which replaces what forward kept."""
        if not self._forward_kept:
            raise RuntimeError(f"{type(self).__name__}: backward() needs its own forward(xs, ts) "
                               "first (each backward uses up what the forward kept, and "
                               "generate() replaces it)")
        self._forward_kept = False
        shares = self._shares
        if shares is None:
            with self._region():
                self._backward_share(dout)
            return
        # each share's loss is a mean over its own targets: weigh its gradient by its part
        counts = [int(m.loss_layer.count) for m, _ in shares]
        total = max(sum(counts), 1)
        parallel.run_parts([functools.partial(m._backward_share, dout * (c / total))
                            for (m, _), c in zip(shares, counts)])
        grads, others = self.flat_grads, [m.flat_grads for m, _ in shares[1:]]

        def add(part):
            for g in others:
                grads[part] += g[part]

        parallel.for_blocks(self.xp, grads.size, add, min_block=1 << 16)


def _rows(lengths, rows):
    return None if lengths is None else lengths[rows]
