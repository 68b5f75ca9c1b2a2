"""The settings of a training run, each declared once (:class:`TrainConfig`: what ``s2sxp train``
takes as flags, made from these fields, and what a run folder keeps in config.json), how the
unset ones are decided (:meth:`TrainConfig.resolved`: the model family's recipe, the data's,
the model's own defaults), and which data they name (:meth:`TrainConfig.data_kind`)."""
import dataclasses
import difflib
import json
import os
import sys
from dataclasses import dataclass

import numpy

from . import corpus, datasets, models
from .folder import RUN_FORMAT
from .io import CheckpointError
from .metrics import BLEU_TOKENIZERS, tokenize_problem
from .models import options as model_options
from .models.shapes import param_shapes
from .optim import OPTIMIZERS
from .pairs import is_pairs_file
from .schedule import PLANNED, SCHEDULES, STEP_SETTINGS
from .settings import SettingError, at_least, above, check, flag, setting, settings_of, within
from .vocab import SUBWORD_MODELS, TOKENIZERS

if sys.version_info >= (3, 11):
    import tomllib
else:                                           # the same parser, before Python 3.11
    import tomli as tomllib

#: The scores that may pick best.npz and stop or slow training on a parallel corpus.
SELECT = ("bleu", "chrf")
#: The kinds of data a setting may be declared for, in words.
SCOPES = {"corpus": "a parallel corpus", "book": "the book's data"}


def _option(name):
    return lambda value: model_options.problem(name, value)


def _model(default=None, help="", **how):
    """A setting of the model: ``family`` where only some model families take it."""
    return setting(default, help, group="model", **how)


def _data(default=None, help="", data=None, **how):
    """A setting of the data: ``data`` names the kind it belongs to (``corpus``, ``book``)."""
    return setting(default, help, group="parallel corpus" if data == "corpus" else "data",
                   data=data, **how)


def _training(default=None, help="", **how):
    return setting(default, help, group="training", **how)


NEVER = "0 (never) or more"


@dataclass
class TrainConfig:
    """The settings of one run. Those left as None are decided by :meth:`resolved`: the model
    family's recipe (``lr``, ``reverse``, ``max_grad``, ...), the data's (an embedding of the
    book's width on its data, a schedule by validations on a corpus) and the model's own
    defaults (``cell`` and the options of its family)."""

    model: str = _model(help="model family", choices=tuple(models.MODELS),
                        shown="attention on the book's data, bahdanau on a parallel corpus")
    cell: str = _model(help="recurrent cell", choices=("lstm", "gru"), shown="recipe")
    data: str = _data("date", "dataset name (date, addition), a text file in the book's "
                      "question_answer format, or a parallel corpus: source<TAB>target per line "
                      "(.tsv, as Tatoeba/Anki export it)", metavar="NAME|FILE")
    examples: int = _data(datasets.EXAMPLES, "lines to generate for date or addition", data="book",
                          form="count", metavar="N")
    epochs: int = _training(help="epochs to train; with --resume, the new total", form="count",
                            metavar="N", fallback=10)
    minutes: float = _training(
        help="train for M minutes of the wall clock, start-up and validations (at most 5%%) "
        "included, in place of --epochs; the test file is scored after them", form="number",
        metavar="M", rule=above(0), shown="")
    batch_size: int = _training(help="rows (sentences) a batch", form="count", metavar="N",
                                fallback=128)
    wordvec_size: int = _model(help="embedding width", form="count", metavar="N",
                               shown="recipe")
    hidden_size: int = _model(256, "width of the recurrent states", form="count", metavar="N")
    optimizer: str = _training(help="", choices=tuple(OPTIMIZERS), shown="recipe")
    lr: float = _training(help="learning rate", form="number", metavar="RATE", rule=above(0),
                          shown="recipe")
    schedule: str = _training(
        help="the rate's course: linear or cosine: a warm-up, then down to near zero at the end "
        "(of --minutes or --epochs); plateau: halved by --plateau; halving: by --lr-half-life "
        "and --anneal-at", choices=SCHEDULES, shown="linear with --minutes, else plateau on a "
        "parallel corpus, halving on the book's data")
    lr_half_life: int = _training(
        help="halve the learning rate every N iterations (smoothly: lr * 0.5 ** (iteration / "
        "N)); 0 keeps it constant", form="whole", metavar="N",
        rule=at_least(0, "0 (a constant rate) or more"), shown="recipe")
    anneal_at: float = _training(
        help="once the validation accuracy (exact match, 0-1) has reached ACC, halve the "
        "learning rate after every epoch; 0: never", form="number", metavar="ACC",
        rule=within(0, 1, "an accuracy from 0 to 1 (0: never)"), shown="recipe")
    max_grad: float = _training(help="clip gradients to this global norm, 0 for none",
                                form="number", metavar="NORM", aliases=("--clip",),
                                rule=at_least(0, "0 (no clipping) or more"), shown="recipe")
    reverse: bool = _training(help="feed the questions reversed", form="switch",
                              shown="recipe")
    seed: int = _training(0, "seed of the initial weights and the shuffling", form="whole",
                          metavar="N")
    eval_every: int = _training(
        0, "validate every N iterations too, not only after each epoch (best.npz, --patience "
        "and --plateau count these validations); 0: after each epoch only", form="whole",
        metavar="N", rule=at_least(0, NEVER))
    patience: int = _training(0, "stop training once N validations in a row have not improved "
                              "on the best score; 0: never", form="whole", metavar="N",
                              rule=at_least(0, NEVER))
    keep_best: int = _training(0, "keep the models of the N best epochs too, epoch-E.npz (for "
                               "s2sxp average)", form="whole", metavar="N", rule=at_least(0, NEVER))
    plateau: int = _training(
        help="halve the learning rate once N validations in a row have not improved on the "
        "best score (the count starts again after each halving); 0: never", form="whole",
        metavar="N", rule=at_least(0, NEVER), shown="recipe")
    label_smoothing: float = _training(help="train towards (1 - EPS) on each target and EPS "
                                       "spread over the vocabulary", form="number",
                                       metavar="EPS", rule=_option("label_smoothing"),
                                       shown="recipe")
    init_state: str = _model(help="the decoder starts from the sum of the encoder states or "
                             "from the last one", family=True, choices=model_options.INIT_STATES)
    reset_state_each_step: bool = _model(help="restart the decoder cell from zeros at every "
                                         "step, as TensorFlow's NMT tutorial does",
                                         form="switch", family=True)
    layers: int = _model(help="--encoder-layers and --decoder-layers both N, where not given "
                         "on their own", form="count", metavar="N", family=True,
                         fans_out=("encoder_layers", "decoder_layers"))
    encoder_layers: int = _model(help="recurrent layers of the encoder", form="count",
                                 metavar="N", family=True)
    decoder_layers: int = _model(help="recurrent layers of the decoder, plain cells stacked "
                                 "over its attentive one", form="count", metavar="N",
                                 family=True)
    bidirectional: bool = _model(help="each encoder layer reads the sentence forward and "
                                 "backward, a bridge bringing the two to the hidden size",
                                 form="switch", family=True, shown="recipe")
    dropout: float = _model(help="while training, drop this part of the embeddings, of the "
                            "inputs of the later layers and of what goes into the output layer",
                            form="number", metavar="P", family=True, rule=_option("dropout"),
                            shown="recipe")
    tie_weights: bool = _model(help="the output layer's weights are the target embedding's, "
                               "transposed (needs --wordvec-size equal to --hidden-size)",
                               form="switch", family=True)
    input_feeding: bool = _model(help="the decoder cell also reads the context of the step "
                                 "before (Luong et al. 2015)", form="switch", family=True)
    tokens: str = _data(help="split sentences into characters, whitespace words, or subwords "
                        "of a SentencePiece model trained on the training split (spm)",
                        data="corpus", choices=TOKENIZERS, shown="recipe")
    min_freq: int = _data(corpus.Options.min_freq, "tokens seen fewer times in training become "
                          "<unk>", data="corpus", form="count", metavar="N")
    max_vocab: int = _data(help="keep the N - 4 most frequent tokens of each side",
                           data="corpus", form="count", metavar="N", shown="all")
    max_length: int = _data(200, "a sentence of more tokens is an error (or skipped with "
                            "--skip-bad)", data="corpus", form="count", metavar="N")
    max_output_length: int = _data(None, "translations of at most N target tokens (validations)",
                                   "corpus", form="count", metavar="N", shown="twice the longest")
    skip_bad: bool = _data(corpus.Options.skip_bad, "skip bad lines (no tab, empty, not UTF-8, "
                           "too long) and say how many, instead of stopping at the first",
                           data="corpus", form="switch", negatable=False)
    source_column: int = _data(corpus.Options.source_column, "the column of a pairs file that "
                               "holds the sources (2: translate the second column into the "
                               "first, as from Tatoeba's Japanese into English)", data="corpus",
                               form="whole", choices=(1, 2))
    langs: tuple = _data(help="two aligned files a split: --data, --dev and --test name PATH, "
                         "the files are PATH.SRC and PATH.TGT", data="corpus", form="pair",
                         metavar=("SRC", "TGT"), shown="")
    dev: str = _data(help="the pairs to validate on after every epoch (best.npz is the best on "
                     "them)", data="corpus", metavar="FILE",
                     shown="a random tenth of --data, held out")
    test: str = _data(help="the pairs to score once, with beam search (5) and best.npz, when "
                      "training has finished", data="corpus", metavar="FILE", shown="")
    shared_vocab: bool = _data(corpus.Options.shared_vocab, "one vocabulary for sources and "
                               "targets", data="corpus", form="switch", negatable=False,
                               shown="one each")
    vocab_size: int = _data(corpus.Options.vocab_size, "subwords (--tokens spm): pieces of each "
                            "SentencePiece model", data="corpus", form="count", metavar="N")
    subword_model: str = _data(corpus.Options.subword_model, "subwords: SentencePiece's unigram "
                               "language model or byte-pair encoding", data="corpus",
                               choices=SUBWORD_MODELS)
    bleu_tokenize: str = _data("13a", "how sacrebleu splits translations for BLEU (char, or "
                               "ja-mecab with pip install \"sacrebleu[ja]\", for Japanese; zh "
                               "for Chinese)", data="corpus", choices=BLEU_TOKENIZERS,
                               rule=tokenize_problem)
    select: str = _data("bleu", "the validation score that picks best.npz and that --patience "
                        "and --plateau watch", data="corpus", choices=SELECT)
    batch_tokens: int = _data(help="batches of about N tokens each (rows times the longest "
                              "source or target, padding included), of sentences of about one "
                              "length, in place of --batch-size rows", data="corpus",
                              form="count", metavar="N", shown="rows",
                              elsewhere="; the book's data has one width, so --batch-size sets "
                              "its batches")

    @classmethod
    def asked(cls, settings):
        """``settings`` asked for ({setting: value}, None: not asked), each checked by its rule,
        ``layers`` fanned out to the layer settings not asked for on their own; SettingError
        for a value that breaks its rule, or two that exclude each other."""
        settings = {k: v for k, v in settings.items() if v is not None}
        check(settings, cls)
        if "batch_size" in settings and "batch_tokens" in settings:
            raise SettingError("batch_size", f"and {flag('batch_tokens')} both size the batches; "
                               "give one")
        for field in settings_of(cls):
            for name in field.metadata.get("fans_out", ()):
                if field.name in settings:
                    settings.setdefault(name, settings[field.name])
            if field.metadata.get("fans_out"):
                settings.pop(field.name, None)
        return settings

    @classmethod
    def saved(cls, settings, source):
        """The (resolved) settings a run's checkpoint ``source`` keeps as ``settings``;
        CheckpointError where they are not a run's. Settings that name no schedule train at a
        constant rate."""
        try:
            return cls(**{"lr_half_life": 0, **settings}).resolved()
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source} does not hold the settings of an s2sxp run "
                                  f"({e!r})") from None

    def given(self):
        """The settings given here (:meth:`asked` of those not None)."""
        return self.asked(dataclasses.asdict(self))

    def resolved(self):
        """A copy with every setting decided: those given checked (SettingError), ``layers``
        fanned out, the options of the model's family only (SettingError for another's); those
        not given (None) taken from the model family's recipe, the data's, the model's defaults,
        else their declared defaults; ``batch_size`` None where batches are sized by tokens."""
        given = self.given()
        config = TrainConfig(**{**{f.name: f.default for f in dataclasses.fields(TrainConfig)
                                   if not f.metadata.get("fans_out")}, **given})
        kind = config.data_kind()
        config.model = config.model or kind.model
        family = models.MODELS[config.model]
        defaults = model_options.defaults(family)
        for field in settings_of(TrainConfig):
            if field.metadata.get("family") and field.name in given and field.name not in defaults:
                raise SettingError(field.name, f"is an option of "
                                   f"{', '.join(owners(field.name))} only, not of "
                                   f"{config.model}")
        for field in settings_of(TrainConfig):
            scope = field.metadata.get("data")
            if field.name in given and field.default is None and scope not in (None, kind.kind):
                raise SettingError(field.name, f"is for {SCOPES[scope]}"
                                   + field.metadata.get("elsewhere", ""))
        decided = {**family.recipe, **defaults, **kind.recipe,
                   **kind.family_recipes.get(config.model, {}), **FALLBACKS}
        decided.update(schedule_settings(config, given, decided["schedule"]))
        if decided["schedule"] in PLANNED:
            decided.update(kind.planned_recipes.get(config.model, {}))
        decided["wordvec_size"] = kind.wordvec_size(config.tokens or decided.get("tokens"))
        if "batch_tokens" in given:
            decided["batch_size"] = None
        return dataclasses.replace(config, **{k: v for k, v in decided.items()
                                              if getattr(config, k) is None})

    def data_kind(self):
        """The kind of data these settings name, the class that loads and answers for it:
        :class:`~s2sxp.corpus.Corpus`, where ``data`` is a pairs file (or ``tokens`` or ``langs``
        say it is a corpus), else the book's :class:`~s2sxp.datasets.Data`."""
        if self.tokens is not None or self.langs is not None or (
                self.data not in datasets.DATASETS and os.path.isfile(self.data)
                and is_pairs_file(self.data)):
            return corpus.Corpus
        return datasets.Data

    def files(self, path):
        """What ``path`` (data, dev or test) names: a pairs file, or with ``langs`` the pair of
        aligned files PATH.SRC and PATH.TGT; None for None."""
        if path is None or self.langs is None:
            return path
        return tuple(f"{path}.{lang}" for lang in self.langs)

    def new_model(self, data):
        """A model of these (resolved) settings for ``data``, in its first weights."""
        return models.build(self.model, **self._model_config(data), seed=self.seed)

    def _model_config(self, data):
        options = {k: getattr(self, k) for k in model_options.defaults(models.MODELS[self.model])
                   if k != "cell" and getattr(self, k, None) is not None}
        if not self.label_smoothing:
            options.pop("label_smoothing", None)
        return dict(vocab_size=len(data.vocab), wordvec_size=self.wordvec_size,
                    hidden_size=self.hidden_size, cell=self.cell, **options,
                    **data.model_options())

    def memory(self, data):
        """About how many bytes training takes at its peak: the model's weights with their
        gradients and Adam's two moments (:func:`~s2sxp.models.shapes.param_shapes`, known
        before the model is built), the float64 draw of its largest weight at initialisation,
        and the largest training batch (:meth:`batch_memory`)."""
        family = models.MODELS[self.model]
        shapes = param_shapes(family, self._model_config(data))
        sizes = [int(numpy.prod(s, dtype=numpy.int64)) for s in shapes]
        return 4 * 4 * sum(sizes) + 8 * max(sizes) + self.batch_memory(data)

    def batch_memory(self, data):
        """About how many bytes the model takes for the largest training batch of ``data``
        (:meth:`~s2sxp.models.base.Seq2seqBase.batch_bytes`): as many rows as a batch has of its
        longest sentences."""
        T_enc, T_dec = data.longest()
        N = self.batch_size or max(1, self.batch_tokens // max(T_enc, T_dec))
        return models.MODELS[self.model].batch_bytes(N, T_enc, T_dec, self.hidden_size,
                                                     len(data.vocab))

    def data_settings(self, kind):
        """{setting: value} of the settings of the kind of data ``kind`` (``book``, ``corpus``),
        which a saved model records."""
        return {f.name: getattr(self, f.name) for f in settings_of(TrainConfig)
                if f.metadata.get("data") == kind}

    def as_dict(self):
        """The settings as config.json keeps them: those of the data's kind and of the model's
        family only."""
        kind = self.data_kind().kind
        return {f.name: getattr(self, f.name) for f in settings_of(TrainConfig)
                if f.metadata.get("data") in (None, kind)
                and not (f.metadata.get("family") and getattr(self, f.name) is None)}

    def carried_on(self, given, source):
        """These settings (a resumed run's) as ``given`` ({setting: value} asked for now) carries
        them on: ``epochs`` may change, every other setting asked must be the run's own
        (SettingError; ``source``, the checkpoint, names the run)."""
        if "model" in given and given["model"] != self.model:
            raise SettingError("model", f"{given['model']}: {source} holds a model of kind "
                               f"{self.model!r}, not {given['model']!r}; resume it without "
                               "{flag}, or start a new run in another folder")
        if self.minutes and "epochs" in given:
            raise SettingError("epochs", f"{given['epochs']}: {source} holds a run of "
                               f"{flag('minutes')} {self.minutes:g}, which carries on the "
                               "budget it had left; resume it without {flag}")
        for name, value in given.items():
            if name != "epochs" and value != getattr(self, name):
                raise SettingError(name, f"{value} differs from the resumed run's "
                                   f"{getattr(self, name)}; a resumed run keeps its settings "
                                   f"(only {flag('epochs')} may change)")
        return dataclasses.replace(self, epochs=given.get("epochs", self.epochs))

    @classmethod
    def folder_for(cls, given):
        """The default folder (:meth:`default_folder`) of a run of the settings ``given``, by
        those of them that name it."""
        naming = {"model", "cell", "data", "tokens", "langs", "source_column"} | {
            f.name for f in settings_of(cls) if f.metadata.get("family")}
        return cls(**{k: v for k, v in cls.asked(given).items()
                      if k in naming}).resolved().default_folder()

    def default_folder(self):
        """runs/MODEL-DATA, with the cell and the model's options where they are not the
        defaults, ``word`` or ``spm`` for a corpus read by words or subwords, and its direction
        where the sources are not the first column (``src2``) or name their languages
        (``ja-en``) (of a resolved config)."""
        return folder_name(self)


def schedule_settings(config, given, recipe):
    """The settings a schedule decides for ``config`` (the data's ``recipe`` unless ``given``,
    linear with a budget): its step settings where not given, and no count of epochs with a
    budget; SettingError for --minutes with --epochs, or for a step setting or --eval-every
    that the schedule has no use for."""
    if "minutes" in given and "epochs" in given:
        raise SettingError("minutes", f"and {flag('epochs')} both say how long to train; "
                           "give one")
    schedule = config.schedule or ("linear" if config.minutes else recipe)
    if schedule in PLANNED:
        unused = [k for k in STEP_SETTINGS[schedule] if given.get(k)]
        if config.minutes and given.get("eval_every"):
            unused.append("eval_every")
        if unused:
            raise SettingError(unused[0], f"has no use with {flag('schedule')} {schedule}"
                               + (f" and {flag('minutes')}, which spaces the validations"
                                  if unused[0] == "eval_every" else ""))
    return {"schedule": schedule, **STEP_SETTINGS[schedule],
            **({"epochs": None} if config.minutes else {})}


def folder_name(config):
    """The folder :meth:`TrainConfig.default_folder` names for ``config``."""
    default = TrainConfig(model=config.model).resolved()
    parts = [config.model]
    if config.cell != default.cell:
        parts.append(config.cell)
    if config.init_state != default.init_state:
        parts.append(config.init_state)
    if config.reset_state_each_step:
        parts.append("reset")
    if config.bidirectional:
        parts.append("bi")
    if config.input_feeding:
        parts.append("feed")
    if (config.encoder_layers or 1) > 1:
        parts.append(f"{config.encoder_layers}layers")
    if (config.decoder_layers or 1) > 1:
        parts.append(f"dec{config.decoder_layers}")
    if config.tokens in ("word", "spm"):
        parts.append(config.tokens)
    if config.langs:                  # the direction: runs/...-ja-en-train
        parts.append("-".join(config.langs))
    elif config.source_column == 2:
        parts.append("src2")
    return os.path.join("runs", "-".join(parts + [data_name(config.data)]))


#: The settings decided, where nothing else decides them, by the value their field declares.
FALLBACKS = {f.name: f.metadata["fallback"] for f in settings_of(TrainConfig)
             if "fallback" in f.metadata}


def default_text(name):
    """How ``--help`` shows the default of the setting ``name`` of a run: its value, or where other
    settings decide it, the rule by which they do."""
    field = next(f for f in settings_of(TrainConfig) if f.name == name)
    shown = field.metadata["shown"]
    if shown == "recipe":
        return _recipe_text(name)
    if shown is not None:
        return shown
    if "fallback" in field.metadata:
        return str(field.metadata["fallback"])
    if field.metadata.get("family"):
        values = {model_options.defaults(c).get(name) for c in models.MODELS.values()}
        values.discard(None)
        return _words(values.pop()) if len(values) == 1 else ""
    return "" if field.default is None else _words(field.default)

def owners(name):
    """The model families that take the setting ``name`` (all, for a setting of every run)."""
    field = next(f for f in settings_of(TrainConfig) if f.name == name)
    if not field.metadata.get("family"):
        return list(models.MODELS)
    wanted = set(field.metadata.get("fans_out") or (name,))
    return [k for k, c in models.MODELS.items()
            if wanted <= set(model_options.defaults(c))]


def _words(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _recipe_text(name):
    """A setting's default where a recipe decides it: by model family (the value most have, then
    the others by name), and by the kind of data where the data's recipe overrides it."""
    by_family = {}
    for kind, family in models.MODELS.items():
        value = {**family.recipe, **model_options.defaults(family)}.get(name)
        if value is not None:
            by_family.setdefault(_words(value), []).append(kind)
    parts = []
    if by_family:
        common = max(by_family, key=lambda v: len(by_family[v]))
        parts.append("the model's: " + ", ".join(
            [common] + [f"{k} {v}" for v, kinds in by_family.items() if v != common
                        for k in kinds]))
    for kind, where in ((datasets.Data, "the book's data"), (corpus.Corpus, "a parallel corpus")):
        if name == "wordvec_size":
            sizes = {t: kind.wordvec_size(t) for t in TOKENIZERS}
            shown = (_words(sizes["char"]) if len(set(sizes.values())) == 1 else
                     ", ".join(f"{v} by {t}" for t, v in sizes.items()))
            parts.append(f"{shown} on {where}")
        elif name in kind.recipe:
            parts.append(f"{_words(kind.recipe[name])} on {where}")
        parts += [f"{_words(recipe[name])} for {family} on {where}"
                  for family, recipe in kind.family_recipes.items() if name in recipe]
        parts += [f"{_words(recipe[name])} for {family} there with --minutes, linear or cosine"
                  for family, recipe in kind.planned_recipes.items() if name in recipe]
    return "; ".join(parts)


def data_name(data):
    """The name a run folder gives its data: a dataset's name, or a file's without folder and
    extension."""
    return os.path.splitext(os.path.basename(data))[0]


def read_settings(path):
    """{setting: value} of a settings file, as ``s2sxp train --config`` reads it: TOML, or JSON
    where its name ends in .json (a run's config.json among them, its ``format`` mark
    ignored); each key a setting's name (``batch_size`` or ``batch-size``) and each value held to
    its rule. ValueError naming the file (and, for TOML, the line) of the first that is not."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    form = "JSON" if os.fspath(path).lower().endswith(".json") else "TOML"
    try:
        values = json.loads(text) if form == "JSON" else tomllib.loads(text)
    except ValueError as e:                     # JSON's and TOML's errors, with the line
        raise ValueError(f"{path}: not {form} ({e})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a table of settings (name = value)")
    if values.get("format") == RUN_FORMAT:
        values = {k: v for k, v in values.items() if k != "format"}
    fields = {f.name: f for f in settings_of(TrainConfig)}
    settings = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            raise ValueError(f"{path}: {key!r} is not a setting of a run"
                             + (f" (did you mean {close[0]!r}?)" if close else "")
                             + "; `s2sxp train --help` lists them, each flag's name a key")
        if fields[name].metadata["form"] == "pair" and isinstance(value, list):
            value = tuple(value)
        settings[name] = value
    try:
        check(settings, TrainConfig)
    except SettingError as e:
        raise ValueError(f"{path}: {e}") from None
    return settings
