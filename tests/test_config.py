"""A run's settings, each declared once: every field of TrainConfig is one flag of s2sxp train and
every setting flag one field, its help's default taken from the declaration; the settings left
unset decided by the recipes; a value that breaks its rule named by its flag."""
import argparse
import dataclasses

import pytest

from s2sxp import models
from s2sxp.cli import train
from s2sxp.config import TrainConfig, default_text
from s2sxp.settings import SettingError, flag, settings_of

#: The flags of train and compare that are not settings of the run: where, and how.
NOT_SETTINGS = {"help", "out", "resume", "overwrite", "backend", "precision", "models", "config"}


def _parser(add):
    sub = argparse.ArgumentParser().add_subparsers()
    add(sub)
    return next(iter(sub.choices.values()))


def _setting_actions(parser):
    return [a for a in parser._actions if a.dest not in NOT_SETTINGS]


def test_every_setting_is_one_flag_of_train_and_every_setting_flag_one_setting():
    fields = {f.name: f for f in settings_of(TrainConfig)}
    actions = _setting_actions(_parser(train.add_train))
    assert sorted(a.dest for a in actions) == sorted(fields)
    for action in actions:
        field = fields[action.dest]
        negated = ([f"--no-{flag(field.name)[2:]}"] if isinstance(
            action, argparse.BooleanOptionalAction) else [])
        assert action.option_strings == [flag(field.name), *negated, *field.metadata["aliases"]]
        assert action.default is None                 # decided by the settings, not the flags
    assert len({a.dest for a in actions}) == len(actions)


def test_compare_takes_every_setting_but_those_of_one_model():
    actions = _setting_actions(_parser(train.add_compare))
    own = {f.name for f in settings_of(TrainConfig)
           if f.name == "model" or f.metadata.get("family")}
    assert sorted(a.dest for a in actions) == sorted(
        f.name for f in settings_of(TrainConfig) if f.name not in own)
    assert own >= {"model", "layers", "dropout", "input_feeding", "init_state"}


def test_the_help_of_each_flag_ends_with_the_default_its_setting_declares():
    for action in _setting_actions(_parser(train.add_train)):
        shown = default_text(action.dest)
        if shown:
            assert action.help.endswith(f" [default: {shown}]"), action.dest
        else:
            assert "[default:" not in action.help, action.dest
    assert default_text("hidden_size") == "256" and default_text("batch_size") == "128"
    assert default_text("lr") == ("the model's: 0.001, bahdanau 0.01; 0.003 for bahdanau on a "
                                  "parallel corpus; 0.005 for bahdanau there with --minutes, "
                                  "linear or cosine")
    assert default_text("model") == "attention on the book's data, bahdanau on a parallel corpus"
    assert default_text("plateau") == "0 on the book's data; 1 on a parallel corpus"


def test_settings_left_unset_are_decided_by_the_recipes_then_the_declared_defaults():
    unset = TrainConfig(**{f.name: None for f in dataclasses.fields(TrainConfig)})
    assert unset.resolved() == TrainConfig().resolved()
    book = TrainConfig(model="bahdanau").resolved()
    assert (book.lr, book.lr_half_life, book.cell, book.wordvec_size, book.plateau) == (
        models.BahdanauSeq2seq.recipe["lr"], 350, "gru", 16, 0)
    pairs = TrainConfig(model="bahdanau", tokens="word").resolved()
    assert (pairs.lr_half_life, pairs.anneal_at, pairs.plateau, pairs.wordvec_size) == (
        0, 0, 1, 256)
    by_tokens = TrainConfig(tokens="char", batch_tokens=500).resolved()
    assert by_tokens.batch_size is None and by_tokens.wordvec_size == 64
    layered = TrainConfig(model="attention", layers=3, decoder_layers=1).resolved()
    assert (layered.layers, layered.encoder_layers, layered.decoder_layers) == (None, 3, 1)
    assert "layers" not in layered.as_dict()


def test_a_corpus_without_settings_gets_the_corpus_recipe_and_the_book_keeps_its_own(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Go.\t行け。\nHi.\tやあ。\n", encoding="utf-8")
    c = TrainConfig(data=str(pairs)).resolved()
    assert (c.model, c.cell, c.bidirectional, c.dropout, c.label_smoothing, c.lr, c.tokens,
            c.vocab_size, c.batch_size, c.wordvec_size, c.hidden_size, c.schedule) == (
        "bahdanau", "gru", True, 0.2, 0.1, 0.003, "spm", 4000, 128, 256, 256, "plateau")
    for planned in ({"minutes": 15}, {"schedule": "cosine"}):
        c = TrainConfig(data=str(pairs), **planned).resolved()
        assert (c.schedule, c.lr) == (planned.get("schedule", "linear"), 0.005)
    assert TrainConfig(data=str(pairs), minutes=15, lr=0.002).resolved().lr == 0.002
    asked = TrainConfig(data=str(pairs), dropout=0.0, bidirectional=False, lr=0.01,
                        label_smoothing=0.0, tokens="char").resolved()
    assert (asked.dropout, asked.bidirectional, asked.lr, asked.label_smoothing, asked.tokens,
            asked.wordvec_size) == (0.0, False, 0.01, 0.0, "char", 64)
    other = TrainConfig(data=str(pairs), model="attention").resolved()
    assert (other.cell, other.dropout, other.label_smoothing, other.lr) == (
        "lstm", 0.0, 0.0, 0.001)
    book = TrainConfig().resolved()
    assert (book.model, book.cell, book.label_smoothing, book.lr, book.schedule) == (
        "attention", "lstm", 0.0, 0.001, "halving")
    book = TrainConfig(model="bahdanau").resolved()
    assert (book.bidirectional, book.dropout, book.label_smoothing, book.lr) == (
        False, 0.0, 0.0, 0.01)


def test_a_value_that_breaks_its_rule_is_named_by_the_setting_and_its_flag():
    for settings, name, words in (
            ({"epochs": 0}, "epochs", "--epochs must be a whole number of at least 1, got 0"),
            ({"lr": -1.0}, "lr", "--lr must be above 0, got -1.0"),
            ({"eval_every": -2}, "eval_every", "--eval-every must be 0 (never) or more"),
            ({"model": "bahdanau", "dropout": 1.0}, "dropout", "--dropout is from 0 to below 1"),
            ({"cell": "rnn"}, "cell", "--cell must be one of lstm, gru, got 'rnn'"),
            ({"batch_size": 8, "batch_tokens": 80, "tokens": "word"}, "batch_size",
             "--batch-size and --batch-tokens both size the batches"),
            ({"dev": "dev.tsv"}, "dev", "--dev is for a parallel corpus"),
            ({"model": "seq2seq", "layers": 2}, "encoder_layers",
             "--encoder-layers is an option of attention, bahdanau only, not of seq2seq")):
        with pytest.raises(SettingError) as raised:
            TrainConfig(**settings).resolved()
        assert raised.value.setting == name and words in str(raised.value), settings


def test_a_resumed_run_keeps_its_settings_but_the_epochs():
    config = TrainConfig(model="bahdanau", hidden_size=8).resolved()
    assert config.carried_on({"epochs": 20, "hidden_size": 8}, "c.npz").epochs == 20
    with pytest.raises(SettingError, match="--hidden-size 16 differs from the resumed run's 8"):
        config.carried_on({"hidden_size": 16}, "c.npz")
    with pytest.raises(SettingError, match="c.npz holds a model of kind 'bahdanau', not 'peeky'"):
        config.carried_on({"model": "peeky"}, "c.npz")
