"""The book's chapter 7 on the addition data: the baseline Seq2seq, the same with its input
reversed, and PeekySeq2seq with reversed input, trained alike (Adam, clip 5.0); their validation
accuracy per epoch goes into one plot (the book's figures 7-23 and 7-26).

    python examples/addition.py                                      # the book's sizes, 25 epochs
    python examples/addition.py --epochs 2 --n 5000 --hidden-size 64 --out /tmp/addition
"""
import argparse
import os

import s2sxp
from s2sxp import datasets, viz

VARIANTS = {"baseline": (s2sxp.Seq2seq, False), "reversed": (s2sxp.Seq2seq, True),
            "peeky + reversed": (s2sxp.PeekySeq2seq, True)}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The whole docstring as the description, and each flag's default."""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=int, default=25, help="epochs to train")
    p.add_argument("--n", type=int, default=50000, help="sums generated, 90%% for training")
    p.add_argument("--wordvec-size", type=int, default=16, help="embedding width")
    p.add_argument("--hidden-size", type=int, default=128,
                   help="width of the recurrent states")
    p.add_argument("--batch-size", type=int, default=128, help="questions a batch")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the shuffling")
    p.add_argument("--out", default="runs/addition", help="output folder")
    args = p.parse_args()

    (x_train, t_train), (x_test, t_test), vocab = datasets.load("addition", n=args.n)
    accuracy = {}
    for name, (cls, reverse) in VARIANTS.items():
        xs_train, xs_test = (x_train[:, ::-1], x_test[:, ::-1]) if reverse else (x_train, x_test)
        model = cls(len(vocab), args.wordvec_size, args.hidden_size, seed=args.seed)
        trainer = s2sxp.Trainer(model, s2sxp.Adam(), seed=args.seed, log=None)
        accuracy[name] = []
        for epoch in range(args.epochs):
            trainer.fit(xs_train, t_train, max_epoch=1, batch_size=args.batch_size, max_grad=5.0)
            acc, guesses = s2sxp.evaluate(model, xs_test, t_test)
            accuracy[name].append(acc)
            print(f"{name}, epoch {epoch + 1}: validation accuracy {100 * acc:.2f}%", flush=True)
        s2sxp.show_examples(xs_test, t_test, guesses, vocab, count=3, reversed_input=reverse)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "accuracy.png")
    viz.plot_accuracy(accuracy, path, title="addition")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
