"""Pictures, drawn into PNG files: validation accuracy per epoch, the training loss, a run's
history (:func:`plot_histories`), and an attention map in the style of the book's
``ch08/visualize_attention.py``.

Figures are matplotlib's :class:`~matplotlib.figure.Figure` objects, saved without pyplot, so that
drawing needs no display and leaves the process's matplotlib backend as the user set it.
"""
import importlib.util
import os
import re
import textwrap
import warnings

import numpy
from matplotlib.figure import Figure

from .files import atomic_write, write_output

SPACE = "\u2423"  # ␣ stands for a space in tick labels
#: Fonts with Chinese, Japanese and Korean glyphs that tick labels fall back to when installed.
CJK_FONTS = ("Noto Sans CJK JP", "Noto Sans JP", "Source Han Sans JP", "IPAexGothic",
             "IPAGothic", "TakaoGothic", "Hiragino Sans", "Yu Gothic", "MS Gothic",
             "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Noto Sans CJK KR")


#: The Japanese font that the matplotlib-fontja package (a dependency) carries: IPAexGothic.
FONTJA = ("matplotlib_fontja", "fonts", "ipaexg.ttf")


def label_fonts():
    """DejaVu Sans Mono, then every installed font of :data:`CJK_FONTS` (matplotlib takes a
    glyph from the first font of the list that has it), matplotlib-fontja's among them where
    that package is installed (its file added to matplotlib's fonts; the package is not
    imported, which would make it every figure's font)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    spec = importlib.util.find_spec(FONTJA[0])
    if "IPAexGothic" not in installed and spec and spec.submodule_search_locations:
        path = os.path.join(spec.submodule_search_locations[0], *FONTJA[1:])
        if os.path.isfile(path):
            font_manager.fontManager.addfont(path)
            installed.add("IPAexGothic")
    return ["DejaVu Sans Mono", *(name for name in CJK_FONTS if name in installed)]


def png_writer(fig):
    """The function that writes ``fig`` as PNG into an open file."""
    return lambda f: fig.savefig(f, format="png")


def save_png(fig, path):
    """``fig`` into the PNG file ``path`` the user named (:func:`s2sxp.files.write_output`)."""
    write_output(path, png_writer(fig))


def plot_accuracy(curves, path, title="validation accuracy", ylabel="accuracy (%)", scale=100):
    """Accuracy per epoch for one or several runs: ``curves`` maps a label to a list of
    accuracies (0-1), one per epoch, or to (epochs, accuracies) where validations fell
    elsewhere, drawn times ``scale`` (a BLEU score: 0-100, ``scale=1``)."""
    save_png(accuracy_figure(curves, title, ylabel, scale), path)


def accuracy_figure(curves, title="validation accuracy", ylabel="accuracy (%)", scale=100):
    """The figure :func:`plot_accuracy` draws."""
    fig = Figure(figsize=(6, 4), dpi=120)
    ax = fig.subplots()
    markers = "osD^v<>p*"
    curves = {label: c if isinstance(c, tuple) else (range(1, len(c) + 1), c)
              for label, c in curves.items()}
    for i, (label, (epochs, values)) in enumerate(curves.items()):
        ax.plot(epochs, [scale * v for v in values], marker=markers[i % len(markers)], label=label)
    if scale == 100:                                # accuracy: the whole range, in %
        ax.set_ylim(-2, 102)
    else:                                           # a score: from 0 to a little above its best
        best = max((max(values, default=0) for _, values in curves.values()), default=1)
        ax.set_ylim(0, 1.15 * best * scale or 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _finish(fig, ax, ylabel, title, "best" if len(curves) > 1 else None)


def plot_loss(curves, path, title="training loss"):
    """Training loss for one or several runs: ``curves`` maps a label to ``(epochs, losses)``,
    where ``epochs[i]`` is where ``losses[i]`` was taken (1.0 = the end of the first epoch)."""
    save_png(loss_figure(curves, title), path)


def loss_figure(curves, title="training loss"):
    """The figure :func:`plot_loss` draws."""
    fig = Figure(figsize=(6, 4), dpi=120)
    ax = fig.subplots()
    for label, (epochs, losses) in curves.items():
        ax.plot(epochs, losses, label=label)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, "loss", title, "upper right" if len(curves) > 1 else None)


def _finish(fig, ax, ylabel, title, legend):
    """Label a curve of something per epoch and add a legend where ``legend`` says."""
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(loc=legend)
    fig.tight_layout()
    return fig


def plot_attention(weights, question, answer, path, title=None):
    """The attention map of one answer: ``weights`` (T_out, T_in), row i the weights over the
    question's tokens while the i-th answer token was produced; ``question`` (T_in) and
    ``answer`` (T_out) are the tokens (characters or words), drawn as tick labels (input on x,
    output on y), in the book's gray scale (white: weight 1, black: 0)."""
    weights = numpy.asarray(weights, dtype=float)
    T_out, T_in = weights.shape
    if len(question) != T_in or len(answer) != T_out:
        raise ValueError(f"weights are {T_out} x {T_in} but the question has {len(question)} "
                         f"tokens and the answer {len(answer)}")
    longest_in = max((len(t) for t in question), default=1)
    longest_out = max((len(t) for t in answer), default=1)
    vertical = longest_in > 2                        # words: read upwards, one column each
    width = max(4.0, 0.32 * T_in + 0.09 * longest_out + 1.5)
    height = max(3.0, 0.32 * T_out + (0.09 * longest_in if vertical else 0) + 1.4)
    fig = Figure(figsize=(width, height), dpi=120)
    ax = fig.subplots()
    image = ax.pcolormesh(weights, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks(numpy.arange(T_in) + 0.5)
    ax.set_yticks(numpy.arange(T_out) + 0.5)
    fonts = label_fonts()
    ax.set_xticklabels([c if c != " " else SPACE for c in question], family=fonts,
                       rotation=90 if vertical else 0)
    ax.set_yticklabels([c if c != " " else SPACE for c in answer], family=fonts)
    ax.invert_yaxis()
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    if title:
        ax.set_title(textwrap.fill(title, max(24, int(width * 8))), pad=18, fontsize=10,
                     family=["DejaVu Sans", *fonts[1:]])
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.tight_layout()
        save_png(fig, path)
    missing = sorted({chr(int(m.group(1))) for w in caught
                      if (m := re.search(r"Glyph (\d+) .*missing", str(w.message)))})
    if missing:
        warnings.warn(f"{path}: no installed font draws {' '.join(missing[:20])} (they show as "
                      "boxes); for Japanese, pip install matplotlib-fontja (which s2sxp "
                      "installs), else install a font such as " + ", ".join(CJK_FONTS[:3])
                      + " or, for Chinese and Korean, " + ", ".join(CJK_FONTS[-3:]),
                      stacklevel=2)


def history_figures(histories):
    """{file name: figure}: accuracy.png (unless every history has BLEU: the exact match of
    translations is near 0 throughout), bleu.png (where a history has BLEU) and loss.png of
    {label: history} as a run keeps it (``val_acc`` per validation, at ``val_epochs``, ``loss``
    per report and where each was taken, ``loss_epochs``)."""
    def curve(h, name):
        epochs = h.get("val_epochs")
        return (epochs, h[name]) if epochs is not None and len(epochs) == len(h[name]) \
            else h[name]

    figures = {}
    if not all("val_bleu" in h for h in histories.values()):
        figures["accuracy.png"] = accuracy_figure(
            {k: curve(h, "val_acc") for k, h in histories.items()}, title="validation accuracy")
    bleu = {k: curve(h, "val_bleu") for k, h in histories.items() if "val_bleu" in h}
    if bleu:
        figures["bleu.png"] = accuracy_figure(bleu, title="validation BLEU", ylabel="BLEU",
                                              scale=1)
    curves = {}
    for label, h in histories.items():
        epochs = h.get("loss_epochs") or [(i + 1) / max(len(h["loss"]), 1) * len(h["val_acc"])
                                          for i in range(len(h["loss"]))]
        curves[label] = (epochs, h["loss"])
    figures["loss.png"] = loss_figure(curves, title="training loss")
    return figures


def plot_histories(histories, folder):
    """The pictures of :func:`history_figures` written into ``folder``, each atomically;
    returns their paths."""
    paths = []
    for name, fig in history_figures(histories).items():
        paths.append(os.path.join(folder, name))
        atomic_write(paths[-1], png_writer(fig))
    return paths
