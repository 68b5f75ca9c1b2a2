"""The attention map of one test question (the book's ch08/visualize_attention.py): train an
AttentionSeq2seq on the date data (or load one saved by ``s2sxp train``), answer a random test
question and draw which input characters each output character looked at.

    python examples/visualize_attention.py --model runs/attention-date/model.npz
    python examples/visualize_attention.py --epochs 2 --n 10000 --hidden-size 64 --out /tmp/att
"""
import argparse
import os

import numpy

import s2sxp
from s2sxp import backend, datasets, viz
from s2sxp.folder import load_model


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The whole docstring as the description, and each flag's default."""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--model", default=None,
                   help="a model or run folder saved by s2sxp train (else train one)")
    p.add_argument("--epochs", type=int, default=3, help="epochs to train")
    p.add_argument("--n", type=int, default=50000, help="date lines generated, 90%% for training")
    p.add_argument("--hidden-size", type=int, default=256,
                   help="width of the recurrent states")
    p.add_argument("--batch-size", type=int, default=128, help="questions a batch")
    p.add_argument("--seed", type=int, default=None, help="picks the question (None: a random one)")
    p.add_argument("--out", default="runs/visualize-attention", help="output folder")
    args = p.parse_args()

    (x_train, t_train), (x_test, t_test), vocab = datasets.load("date", n=args.n)
    if args.model:
        try:
            model, _ = load_model(args.model)
        except (OSError, ValueError) as e:           # no such file, or a run not yet trained
            p.exit(2, f"{p.prog}: error: {e}\n")
        reverse = model.meta.get("reversed_input", True)
    else:
        model, reverse = s2sxp.AttentionSeq2seq(len(vocab), 16, args.hidden_size, seed=0), True
        trainer = s2sxp.Trainer(model, s2sxp.Adam(), seed=0)
        trainer.fit(x_train[:, ::-1], t_train, max_epoch=args.epochs, batch_size=args.batch_size,
                    max_grad=5.0)
        model.vocab = vocab

    i = numpy.random.default_rng(args.seed).integers(len(x_test))
    question, truth = vocab.decode(x_test[i]), vocab.decode(t_test[i, 1:])
    xs = model.vocab.encode(question)[None, :]
    if reverse:
        xs = xs[:, ::-1]
    ids = model.generate(xs, model.vocab.char_to_id["_"], len(truth))        # one question
    answer = model.vocab.decode(ids)
    weights = backend.asnumpy(model.attention_weights)[0]  # (T_out, T_in) as the encoder read it
    if reverse:
        weights = weights[:, ::-1]

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "attention.png")
    viz.plot_attention(weights, question, answer, path, title=f"{question.strip()} \u2192 {answer}")
    print(f"Q {question.strip()}\nT {truth}\n{'O' if answer == truth else 'X'} {answer}\n"
          f"wrote {path}")


if __name__ == "__main__":
    main()
