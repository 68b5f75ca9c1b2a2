"""Pictures, drawn headless with matplotlib into PNG files: validation accuracy per epoch, the
training loss, and an attention map in the style of the book's ``ch08/visualize_attention.py``."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

SPACE = "\u2423"  # ␣ stands for a space in tick labels


def plot_accuracy(curves, path, title="validation accuracy"):
    """Accuracy per epoch for one or several runs: ``curves`` maps a label to a list of
    accuracies (0-1), one per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    markers = "osD^v<>p*"
    for i, (label, accs) in enumerate(curves.items()):
        epochs = range(1, len(accs) + 1)
        ax.plot(epochs, [100 * a for a in accs], marker=markers[i % len(markers)], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_loss(curves, path, title="training loss"):
    """Training loss for one or several runs: ``curves`` maps a label to ``(epochs, losses)``,
    where ``epochs[i]`` is where ``losses[i]`` was taken (1.0 = the end of the first epoch)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, (epochs, losses) in curves.items():
        ax.plot(epochs, losses, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_attention(weights, question, answer, path, title=None):
    """The attention map of one answer: ``weights`` (T_out, T_in), row i the weights over the
    question's characters while the i-th answer character was produced; ``question`` (T_in) and
    ``answer`` (T_out) are the characters, drawn as tick labels (input on x, output on y), in the
    book's gray scale (white: weight 1, black: 0)."""
    weights = numpy.asarray(weights, dtype=float)
    T_out, T_in = weights.shape
    if len(question) != T_in or len(answer) != T_out:
        raise ValueError(f"weights are {T_out} x {T_in} but the question has {len(question)} "
                         f"characters and the answer {len(answer)}")
    fig, ax = plt.subplots(figsize=(max(4.0, 0.32 * T_in + 1.6), max(3.0, 0.32 * T_out + 1.4)),
                           dpi=120)
    image = ax.pcolormesh(weights, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks(numpy.arange(T_in) + 0.5)
    ax.set_yticks(numpy.arange(T_out) + 0.5)
    ax.set_xticklabels([c if c != " " else SPACE for c in question], family="monospace")
    ax.set_yticklabels([c if c != " " else SPACE for c in answer], family="monospace")
    ax.invert_yaxis()
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, pad=18)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
