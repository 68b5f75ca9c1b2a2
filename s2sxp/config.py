"""The settings of a training run (:class:`TrainConfig`: what ``s2sxp train`` takes as flags and a
run folder keeps in config.json) and the data they name, for a new run or a saved model."""
import dataclasses
import hashlib
import inspect
import os
from dataclasses import dataclass

from . import corpus, datasets, models
from .pairs import is_pairs_file
from .vocab import TOKENIZERS, Vocab

#: Constructor options of some model families that a run may set (BahdanauSeq2seq's and
#: AttentionSeq2seq's).
MODEL_OPTIONS = ("init_state", "reset_state_each_step", "encoder_layers", "decoder_layers",
                 "bidirectional", "dropout", "tie_weights", "input_feeding")
#: The settings of a run on a parallel corpus, which other runs do not have.
CORPUS_OPTIONS = ("tokens", "min_freq", "max_vocab", "max_length", "skip_bad", "source_column",
                  "langs", "dev", "test", "shared_vocab", "vocab_size", "subword_model",
                  "bleu_tokenize", "select", "batch_tokens")
#: What a run saved before these settings existed did: one vocabulary for both sides, an
#: embedding of the book's width, no plateau.
CORPUS_BEFORE = {"shared_vocab": True, "wordvec_size": 16, "plateau": 0}
#: The recipe on a parallel corpus, in place of the model family's schedule (which is in
#: iterations of the book's data): the rate halves when the dev score stalls.
CORPUS_RECIPE = {"lr_half_life": 0, "anneal_at": 0, "plateau": 1}
#: The embedding's width on a parallel corpus, by what its tokens are.
CORPUS_WORDVEC = {"char": 64, "word": 256, "spm": 256}
#: The scores that may pick best.npz and stop or slow training on a parallel corpus.
SELECT = ("bleu", "chrf")


@dataclass
class TrainConfig:
    """The settings of one run. ``lr``, ``reverse``, ``max_grad`` and ``optimizer`` left as None
    take the model class's ``recipe``; ``cell``, ``init_state`` and ``reset_state_each_step``
    its constructor's defaults (see :meth:`resolved`)."""

    model: str = "attention"
    cell: str = None  # "lstm" or "gru"; None: the model class's default
    data: str = "date"  # "date", "addition", a question_answer file, a pairs file (.tsv), or
    #                     with langs, the path before .SRC and .TGT of two aligned files
    examples: int = 50000  # lines generated for "date" and "addition"
    epochs: int = 10
    batch_size: int = 128
    wordvec_size: int = None  # None: 16 (the book's) on its data, on a corpus CORPUS_WORDVEC
    hidden_size: int = 256
    optimizer: str = None
    lr: float = None
    lr_half_life: int = None  # iterations over which the learning rate halves; 0: constant
    anneal_at: float = None  # once validation accuracy reaches it, halve the rate every epoch
    max_grad: float = None  # gradient norm clipping; 0 for none
    reverse: bool = None  # feed the questions reversed
    seed: int = 0
    eval_every: int = 0  # validate every this many iterations too; 0: after each epoch only
    patience: int = 0  # stop once this many validations in a row have not improved; 0: never
    plateau: int = None  # halve the rate once this many validations in a row have not improved
    label_smoothing: float = 0.0  # the part of the target distribution spread over the vocabulary
    # options of some model families (MODEL_OPTIONS); None: the model's default
    init_state: str = None  # bahdanau: the decoder's initial state, "sum" or "last" encoder state
    reset_state_each_step: bool = None  # bahdanau: restart the decoder cell at every step
    encoder_layers: int = None  # bahdanau, attention: recurrent layers of the encoder
    decoder_layers: int = None  # bahdanau, attention: recurrent layers of the decoder
    bidirectional: bool = None  # bahdanau, attention: encoder layers run forward and backward
    dropout: float = None  # bahdanau, attention: embeddings, between layers, before the output
    tie_weights: bool = None  # bahdanau: the output layer's weights are the target embedding's
    input_feeding: bool = None  # attention: the decoder cell also reads the last context
    # a parallel corpus (source<TAB>target lines, or two aligned files) only
    tokens: str = None  # "char", "word" or "spm" (subwords); None: "char" for a pairs file
    min_freq: int = 1  # tokens seen fewer times in the training split become <unk>
    max_vocab: int = None  # at most this many tokens, the four special ones included
    max_length: int = 200  # a longer sentence (in tokens) is an error, or skipped with skip_bad
    skip_bad: bool = False  # skip (and count) bad lines instead of stopping at the first
    source_column: int = 1  # of a pairs file: the source is the first column, or the second
    langs: tuple = None  # (SRC, TGT): data, dev and test name two aligned files PATH.SRC, .TGT
    dev: str = None  # the pairs validated on (best.npz); None: a random tenth of data
    test: str = None  # the pairs scored once, with beam search, when training has finished
    shared_vocab: bool = False  # one vocabulary for both sides
    vocab_size: int = 8000  # subwords: the pieces of each SentencePiece model
    subword_model: str = "unigram"  # subwords: "unigram" or "bpe"
    bleu_tokenize: str = "13a"  # how sacrebleu splits the translations for BLEU
    select: str = "bleu"  # the validation score that picks best.npz, patience and plateau
    batch_tokens: int = None  # batches of about this many tokens (padding included), in place
    #                           of batch_size rows (which a resolved config then leaves None)

    def resolved(self):
        """A copy with the recipe's values where this one has None, and the model's defaults for
        the options of its family (ValueError for an option the family does not have)."""
        if self.model not in models.MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of "
                             + ", ".join(models.MODELS))
        parameters = inspect.signature(models.MODELS[self.model]).parameters
        defaults = dict(models.MODELS[self.model].recipe, cell=parameters["cell"].default)
        for name in MODEL_OPTIONS:
            if name in parameters:
                defaults[name] = parameters[name].default
            elif getattr(self, name) is not None:
                owners = [k for k, cls in models.MODELS.items()
                          if name in inspect.signature(cls).parameters]
                raise ValueError(f"--{name.replace('_', '-')} is an option of "
                                 f"{', '.join(owners)} only, not of {self.model}")
        if self.lr_half_life is not None and self.lr_half_life < 0:
            raise ValueError(f"--lr-half-life must be 0 (a constant rate) or more, got "
                             f"{self.lr_half_life}")
        if self.anneal_at is not None and not 0 <= self.anneal_at <= 1:
            raise ValueError(f"--anneal-at must be an accuracy from 0 to 1 (0: never), got "
                             f"{self.anneal_at}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"--lr must be above 0, got {self.lr}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be from 0 to below 1, got {self.dropout}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"--label-smoothing must be from 0 to below 1, got "
                             f"{self.label_smoothing}")
        if self.max_grad is not None and self.max_grad < 0:
            raise ValueError(f"--max-grad must be 0 (no clipping) or more, got {self.max_grad}")
        for name in ("eval_every", "patience", "plateau"):
            if (getattr(self, name) or 0) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be 0 (never) or more, got "
                                 f"{getattr(self, name)}")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ValueError(f"--batch-tokens must be 1 or more, got {self.batch_tokens}")
        if self.select not in SELECT:
            raise ValueError(f"unknown score {self.select!r} to select by; choose one of "
                             + ", ".join(SELECT))
        if self.tokens is not None and self.tokens not in TOKENIZERS:
            raise ValueError(f"unknown tokens {self.tokens!r}; choose one of "
                             + ", ".join(TOKENIZERS))
        if self.batch_tokens and not self.is_corpus():
            raise ValueError("--batch-tokens is for a parallel corpus; the book's data has one "
                             "width, so --batch-size sets its batches")
        if self.batch_tokens:                       # batches by tokens, not by rows
            self = dataclasses.replace(self, batch_size=None)
        if self.is_corpus():
            defaults.update(CORPUS_RECIPE, tokens=self.tokens or "char")
            defaults["wordvec_size"] = CORPUS_WORDVEC[defaults["tokens"]]
        else:
            defaults.update(wordvec_size=16, plateau=0)
        return dataclasses.replace(self, **{k: v for k, v in defaults.items()
                                            if getattr(self, k) is None})

    def is_corpus(self):
        """Whether ``data`` names a parallel corpus (or ``tokens`` says it is one)."""
        return self.tokens is not None or self.langs is not None or (
            self.data not in datasets.DATASETS and os.path.isfile(self.data)
            and is_pairs_file(self.data))

    def files(self, path):
        """What ``path`` (data, dev or test) names: a pairs file, or with ``langs`` the pair of
        aligned files PATH.SRC and PATH.TGT; None for None."""
        if path is None or self.langs is None:
            return path
        return tuple(f"{path}.{lang}" for lang in self.langs)

    def model_options(self):
        """The model family's own options set in this config, for its constructor."""
        return {k: getattr(self, k) for k in MODEL_OPTIONS if getattr(self, k) is not None}

    def as_dict(self):
        """The settings, without the options of other model families, nor a corpus's where the
        data is not one (nor, for a corpus, the number of generated examples)."""
        other = ("examples",) if self.is_corpus() else CORPUS_OPTIONS
        return {k: v for k, v in dataclasses.asdict(self).items()
                if (k not in MODEL_OPTIONS or v is not None) and k not in other}

    def default_folder(self):
        """runs/MODEL-DATA, with the cell and the model's options where they are not the
        defaults, and ``word`` for a corpus read by words (of a resolved config)."""
        default = TrainConfig(model=self.model).resolved()
        parts = [self.model]
        if self.cell != default.cell:
            parts.append(self.cell)
        if self.init_state != default.init_state:
            parts.append(self.init_state)
        if self.reset_state_each_step:
            parts.append("reset")
        if self.bidirectional:
            parts.append("bi")
        if self.input_feeding:
            parts.append("feed")
        if (self.encoder_layers or 1) > 1:
            parts.append(f"{self.encoder_layers}layers")
        if (self.decoder_layers or 1) > 1:
            parts.append(f"dec{self.decoder_layers}")
        if self.tokens in ("word", "spm"):
            parts.append(self.tokens)
        return os.path.join("runs", "-".join(parts + [data_name(self.data)]))


def data_name(data):
    """The name a run folder gives its data: a dataset's name, or a file's without folder and
    extension."""
    return os.path.splitext(os.path.basename(data))[0]


def load_data(config, reverse=None, vocab=None, source_vocab=None):
    """The data a (resolved) config names: a :class:`~s2sxp.datasets.Data` or a
    :class:`~s2sxp.corpus.Corpus`, reversed as the config (or ``reverse``) says; a corpus in
    ``vocab`` (and ``source_vocab``) where given."""
    reverse = config.reverse if reverse is None else reverse
    if not config.is_corpus():
        return datasets.Data.load(config.data, config.examples, reverse)
    data = corpus.load_pairs(
        config.files(config.data), tokens=config.tokens, min_freq=config.min_freq,
        max_vocab=config.max_vocab, max_length=config.max_length, skip_bad=config.skip_bad,
        vocab=vocab, source_vocab=source_vocab, dev=config.files(config.dev),
        test=config.files(config.test), source_column=config.source_column,
        shared_vocab=config.shared_vocab, vocab_size=config.vocab_size,
        subword_model=config.subword_model)
    return data.reversed() if reverse else data


#: The settings that name files of data, which a run finds again where they moved.
FILE_SETTINGS = ("data", "dev", "test")


def _digest(paths):
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _paths(config, value):
    files = config.files(value)
    return files if isinstance(files, tuple) else (files,)


def file_records(config, folder):
    """What a run keeps of the files of data it trains on: {setting: {"path": absolute,
    "from_run": relative to the run folder, "sha256": of the content}}."""
    records = {}
    for name in FILE_SETTINGS:
        value = getattr(config, name)
        if value is None or value in datasets.DATASETS:
            continue
        paths = _paths(config, value)
        if all(os.path.isfile(p) for p in paths):
            path = os.path.abspath(value)
            records[name] = {"path": path, "sha256": _digest(paths),
                             "from_run": os.path.relpath(path, os.path.abspath(folder))}
    return records


def located(config, records, folder, given=None):
    """``config`` with its files of data found again: where they were named (from the current
    folder) or at their absolute path, as they are there; else beside the run ``folder`` where
    they lay, if their content is the one recorded; or, for a setting in ``given``, there, if
    its content is the recorded one. FileNotFoundError where none is, ValueError for a given
    file of another content."""
    changes = {}
    for name, record in (records or {}).items():
        asked, flag = (given or {}).get(name), "--" + name
        if asked is not None:
            if not all(os.path.isfile(p) for p in _paths(config, asked)):
                raise FileNotFoundError(f"no {flag} file at {asked}")
            if _digest(_paths(config, asked)) != record["sha256"]:
                raise ValueError(f"{flag} {asked} is not what the run was trained on (its "
                                 "content differs); start a new run to train on it")
            changes[name] = asked
            continue
        named = [getattr(config, name), record["path"]]
        beside = os.path.join(folder, record["from_run"])
        found = next((p for p in named if all(os.path.isfile(q) for q in _paths(config, p))),
                     None)
        if found is None and all(os.path.isfile(q) for q in _paths(config, beside)) \
                and _digest(_paths(config, beside)) == record["sha256"]:
            found = beside
        if found is None:
            raise FileNotFoundError(f"the run's {flag} {getattr(config, name)} is neither at "
                                    f"{record['path']} nor beside the run, at {beside} (moved? "
                                    f"give it with {flag} FILE)")
        changes[name] = found
    return dataclasses.replace(config, **changes)


def load_model_data(model, data=None, examples=None, source="the model"):
    """The data a saved model was trained on (or ``data`` instead), split as in training, in the
    model's vocabularies, its sources reversed as they were in training."""
    meta = model.meta
    name = data or meta.get("data")
    if name is None:
        raise ValueError(f"{source} does not record its data; name it with --data")
    reverse = bool(meta.get("reversed_input"))
    if isinstance(model.vocab, Vocab):
        if data is None and (meta.get("files") or {}).get("data"):
            folder = os.path.dirname(os.path.abspath(source))
            name = located(TrainConfig(data=name), meta["files"], folder).data
        loaded = datasets.Data.load(name, examples or meta.get("examples", 50000), reverse)
        return loaded.in_vocab(model.vocab, name)
    options = {k: meta[k] for k in CORPUS_OPTIONS if meta.get(k) is not None}
    if data is not None:                            # another corpus: its pairs, not the run's
        options = {k: v for k, v in options.items() if k not in ("dev", "test", "langs")}
    config = TrainConfig(data=name, **dict(options, tokens=model.vocab.tokenizer))
    if data is None:
        config = located(config, meta.get("files"), os.path.dirname(os.path.abspath(source)))
    return load_data(config, reverse=reverse, vocab=model.vocab,
                     source_vocab=getattr(model, "source_vocab", None))
