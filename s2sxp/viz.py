"""Pictures, drawn headless with matplotlib into PNG files."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_accuracy(curves, path, title="validation accuracy"):
    """Accuracy per epoch for one or several runs: ``curves`` maps a label to a list of
    accuracies (0-1), one per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, accs in curves.items():
        epochs = range(1, len(accs) + 1)
        ax.plot(epochs, [100 * a for a in accs], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
