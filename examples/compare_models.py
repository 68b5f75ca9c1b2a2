"""The book's chapter 8 comparison: baseline Seq2seq, PeekySeq2seq and AttentionSeq2seq on the
date data, input reversed, Adam, gradients clipped at 5.0, one epoch of each model at a time;
their validation accuracy per epoch goes into one plot (the book's figure 8-26).

    python examples/compare_models.py                                # the book's sizes, 10 epochs
    python examples/compare_models.py --epochs 2 --n 5000 --hidden-size 64 --out /tmp/compare
"""
import argparse
import os

import s2sxp
from s2sxp import datasets, viz

MODELS = {"baseline": s2sxp.Seq2seq, "peeky": s2sxp.PeekySeq2seq,
          "attention": s2sxp.AttentionSeq2seq}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The whole docstring as the description, and each flag's default."""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=int, default=10, help="epochs to train")
    p.add_argument("--n", type=int, default=50000, help="date lines generated, 90%% for training")
    p.add_argument("--wordvec-size", type=int, default=16, help="embedding width")
    p.add_argument("--hidden-size", type=int, default=256,
                   help="width of the recurrent states")
    p.add_argument("--batch-size", type=int, default=128, help="questions a batch")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the shuffling")
    p.add_argument("--out", default="runs/compare-models", help="output folder")
    args = p.parse_args()

    (x_train, t_train), (x_test, t_test), vocab = datasets.load("date", n=args.n)
    x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
    trainers = {name: s2sxp.Trainer(cls(len(vocab), args.wordvec_size, args.hidden_size,
                                        seed=args.seed), s2sxp.Adam(), seed=args.seed, log=None)
                for name, cls in MODELS.items()}
    accuracy = {name: [] for name in MODELS}
    for epoch in range(args.epochs):
        for name, trainer in trainers.items():
            trainer.fit(x_train, t_train, max_epoch=1, batch_size=args.batch_size, max_grad=5.0)
            acc, _ = s2sxp.evaluate(trainer.model, x_test, t_test)
            accuracy[name].append(acc)
        print(f"epoch {epoch + 1}: " + "  ".join(f"{name} {100 * accs[-1]:.2f}%"
                                                 for name, accs in accuracy.items()), flush=True)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "accuracy.png")
    viz.plot_accuracy(accuracy, path, title="date data, reversed input")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
