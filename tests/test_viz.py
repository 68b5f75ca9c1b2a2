"""Pictures: each function writes a PNG that reads back as an image."""
import warnings

import matplotlib.image
import numpy
import pytest

from s2sxp import viz


def _image(path):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def test_plot_accuracy_draws_one_or_several_runs(tmp_path):
    viz.plot_accuracy({"attention": [0.1, 0.9]}, tmp_path / "one.png")
    viz.plot_accuracy({"seq2seq": [0.0, 0.01, 0.05], "peeky": [0.1, 0.5, 0.9],
                       "attention": [0.5, 0.99, 1.0]}, tmp_path / "three.png")
    assert _image(tmp_path / "one.png").shape == _image(tmp_path / "three.png").shape


def test_plot_loss_draws_losses_against_epochs(tmp_path):
    viz.plot_loss({"attention": ([0.5, 1.0, 1.5, 2.0], [3.0, 1.0, 0.5, 0.2])},
                  tmp_path / "loss.png")
    _image(tmp_path / "loss.png")


def test_plot_attention_grows_with_the_question_and_answer(tmp_path):
    rng = numpy.random.default_rng(0)
    short = rng.dirichlet(numpy.ones(7), size=5)
    long = rng.dirichlet(numpy.ones(29), size=10)
    viz.plot_attention(short, "9/27/94", "94-09", tmp_path / "short.png")
    viz.plot_attention(long, "September 27, 1994".ljust(29), "1994-09-27", tmp_path / "long.png",
                       title="September 27, 1994 \u2192 1994-09-27")
    assert _image(tmp_path / "long.png").shape[1] > _image(tmp_path / "short.png").shape[1]


def test_plot_attention_refuses_labels_that_do_not_fit_the_weights(tmp_path):
    with pytest.raises(ValueError, match="weights are 2 x 3 but the question has 4"):
        viz.plot_attention(numpy.zeros((2, 3)), "abcd", "xy", tmp_path / "a.png")


def test_plot_attention_draws_words_and_names_glyphs_no_installed_font_has(tmp_path):
    words = ["watashi", "wa", "gakusei", "desu"]
    viz.plot_attention(numpy.eye(4), words, ["I", "am", "a", "student"], tmp_path / "w.png")
    assert matplotlib.image.imread(tmp_path / "w.png").shape[0] > 0
    has_cjk = len(viz.label_fonts()) > 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz.plot_attention(numpy.eye(3), list("行け。"), ["Go", ".", "</s>"],
                           tmp_path / "j.png")
    told = [str(w.message) for w in caught]
    if has_cjk:
        assert told == []
    else:
        assert len(told) == 1 and "no installed font draws 。 け 行" in told[0]
