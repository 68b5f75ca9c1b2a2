"""The data a run's settings name, whichever kind it is (the book's questions,
:class:`~s2sxp.datasets.Data`, or a parallel corpus, :class:`~s2sxp.corpus.Corpus`: the settings
say which, :meth:`~s2sxp.config.TrainConfig.data_kind`): loaded (:func:`load_data`), its files
recorded by content and found again after a move (:func:`file_records`, :func:`located`), and
for a saved model, the settings of its run (:func:`model_settings`) and the split ``s2sxp eval``
scores (:func:`scored_split`).

Both kinds answer what a run asks of its data, so that nothing else needs to know which it has::

    vocab, source_vocab     the targets' and the sources' vocabularies
    x_train, t_train        the training split's ids
    split(name)             the held-out (test) or training split: evaluate(model, options, ...),
                            show(guesses, count), heading(decoding), summary(scores)
    test_set                the test file's split, scored once at the end (or None)
    scores, selected(...)   what a validation scores; the score that picks the best model
    describe()              the data in words
    model_options()         what a model needs to read it (padding, the sources' vocabulary)
    longest()               the longest source and target (the memory a batch takes)
    saved_meta(), kind      what a saved model records of it; which settings are its own
    recipe, wordvec_size    the settings it decides where none are given
    from_settings, file_split   the data a run's settings name; a file a saved model is scored on
"""
import dataclasses
import hashlib
import os

from .config import TrainConfig
from .datasets import DATASETS
from .settings import SettingError

#: The settings that name files of data, which a run finds again where they moved.
FILE_SETTINGS = ("data", "dev", "test")


def load_data(config, vocab=None, source_vocab=None):
    """The data a (resolved) config names, reversed as it says; in ``vocab`` (and the sources'
    ``source_vocab``) where given."""
    return config.data_kind().from_settings(config, vocab, source_vocab)


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


def _exist(config, value):
    return all(os.path.isfile(p) for p in _paths(config, value))


def file_records(config, folder):
    """What a run keeps of the files of data it trains on: {setting: {"path": absolute,
    "from_run": relative to the run folder, "sha256": of the content}}."""
    records = {}
    for name in FILE_SETTINGS:
        value = getattr(config, name)
        if value is None or value in DATASETS or not _exist(config, value):
            continue
        path = os.path.abspath(value)
        records[name] = {"path": path, "sha256": _digest(_paths(config, value)),
                         "from_run": os.path.relpath(path, os.path.abspath(folder))}
    return records


def located(config, records, folder, given=None):
    """{setting: path} of ``config``'s files of data, each found where its content is the one
    ``records`` (:func:`file_records`) keeps: at its recorded absolute path, else where the
    setting names it (from the current folder), else beside the run ``folder`` where it lay; for
    a setting in ``given``, there alone. SettingError where none is, naming any file found there
    with another content; the content is checked whichever path finds the file."""
    found = {}
    for name, record in (records or {}).items():
        asked = (given or {}).get(name)
        places = [asked] if asked is not None else list(dict.fromkeys(
            (record["path"], getattr(config, name),
             os.path.join(folder, record["from_run"]))))
        present = [p for p in places if p is not None and _exist(config, p)]
        found[name] = next((p for p in present
                            if _digest(_paths(config, p)) == record["sha256"]), None)
        if found[name] is not None:
            continue
        if present:
            raise SettingError(name, f"{present[0]} is not what the run was trained on (its "
                               "content differs); "
                               + ("start a new run to train on it" if asked is not None else
                                  "give the file it was trained on with {flag} FILE"))
        if asked is not None:
            raise SettingError(name, f"{asked}: no such file")
        raise SettingError(name, f"{getattr(config, name)} of the run is neither at "
                           f"{record['path']} nor beside the run, at {places[-1]} (moved? give "
                           "it with {flag} FILE)")
    return found


def model_settings(model, data=None, source="the model", **asked):
    """The settings of the run that saved ``model`` (what ``model.meta`` records: its data and
    how it was read, whether the sources were reversed), its files of data found again beside
    the model's file ``source``; or, with ``data``, the same reading of another file (or the
    book's dataset of that name), without the run's dev and test files. ``asked``: settings
    named now, in place of the recorded ones."""
    meta = model.meta
    name = data or meta.get("data")
    if name is None:
        raise SettingError("data", f"is not recorded in {source}; name its data with {{flag}}")
    recorded = {f.name: meta[f.name] for f in dataclasses.fields(TrainConfig)
                if meta.get(f.name) is not None and f.name != "data"}
    if data is not None:
        recorded = {k: v for k, v in recorded.items() if k not in ("dev", "test", "langs")}
    recorded.update({k: v for k, v in asked.items() if v is not None})
    config = TrainConfig(data=name, reverse=bool(meta.get("reversed_input")), **recorded)
    if data is None:
        config = dataclasses.replace(config, **located(
            config, meta.get("files"), os.path.dirname(os.path.abspath(source))))
    return config


def scored_split(model, data=None, split="test", source="the model", **asked):
    """The split of data ``s2sxp eval`` scores a saved model on: the held-out (``test``) or
    training split of what it was trained on; or, given ``data``, every pair of that file (a
    corpus model), or that dataset's split (a model of the book's data)."""
    config = model_settings(model, data, source, **asked)
    vocabs = model.vocab, model.source_vocab
    if data is None:
        return load_data(config, *vocabs).split(split)
    return config.data_kind().file_split(config, *vocabs, split,
                                         model.meta.get("max_output_length"))
