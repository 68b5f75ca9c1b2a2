"""``s2sxp eval`` and ``s2sxp translate``: a saved model scored on its data, or asked to answer
and translate what is typed, with the attention map of one answer."""
import os
import stat
import sys
import time
import warnings

from .. import viz
from ..data import scored_split
from ..files import write_output
from ..pairs import decode_lines
from ..folder import load_model
from ..translation import translator
from .flags import (backend_flag, command, decode_options, decoding_flags, positive, run_flag,
                    setting_flags, use_backend)


def add_eval(sub):
    p = command(sub, "eval", eval_,
                "accuracy, or BLEU and chrF, of a saved model on a dataset",
                "Decode the test split (the book's 10%) of a dataset with a saved model and "
                "print its exact-match accuracy and the first few questions with their true "
                "and guessed answers; for a model trained on a parallel corpus, the corpus "
                "BLEU and chrF of its translations (sacrebleu) too, greedy or with --beam. The "
                "data defaults to what the model was trained on.",
                "  s2sxp eval                                    # runs/attention-date\n"
                "  s2sxp eval --run runs/peeky-addition/best.npz --count 5\n"
                "  s2sxp eval --run runs/mine --data other_pairs.txt\n"
                "  s2sxp eval --run runs/bahdanau-jpn --beam 5   # a parallel corpus\n"
                "  s2sxp eval --run runs/ja-en --data test.tsv --source-column 2 --output "
                "test.hyp --references test.ref2 test.ref3\n")
    run_flag(p)
    p.add_argument("--data", default=None, metavar="NAME|FILE",
                   help="dataset name or question_answer file, or for a model trained on a "
                   "parallel corpus a file of pairs, scored whole [default: the model's data, "
                   "its held-out split]")
    p.add_argument("--examples", type=positive, default=None, metavar="N",
                   help="lines to generate for date or addition [default: the model's]")
    setting_flags(p, names=("source_column", "langs", "bleu_tokenize"), shown="the model's")
    p.add_argument("--split", default="test", choices=["test", "train"],
                   help="test: the held-out split (the dev file, or the tenth held out of the "
                   "training pairs); train: the training split [default: %(default)s]")
    p.add_argument("--output", default=None, metavar="FILE",
                   help="write the translations (or answers) into this file, one a line, in "
                   "the order of the data")
    p.add_argument("--references", nargs="+", default=None, metavar="FILE",
                   help="further references: files of one translation a line, line for line "
                   "with --data, scored with its own (BLEU and chrF of several references; "
                   "exact match with any)")
    p.add_argument("--count", type=int, default=10, metavar="N",
                   help="questions to print [default: %(default)s]")
    decoding_flags(p)
    backend_flag(p)


#: The longest sentence translate reads, in characters: far longer than a sentence a model is
#: trained on, far shorter than one that would take minutes and gigabytes to decode.
MAX_INPUT_LENGTH = 2000


def add_translate(sub):
    p = command(sub, "translate", translate,
                "answer questions or translate sentences with a saved model",
                "Answer one or more questions (or translate sentences, for a model trained on "
                "a parallel corpus) with a saved model and print one answer per line: greedy "
                "decoding, or beam search with --beam on a corpus model. The sentences come "
                "from the command line or, one a line, from --input (a file, or - for standard "
                "input) or from standard input piped in with no sentence given, translated "
                "in batches of similar lengths and written in their order, "
                "an empty line for an empty line. With --heatmap, also draw the attention map "
                "of the (single) question: its characters or words on x, the answer's on y.",
                "  s2sxp translate \"September 27, 1994\"\n"
                "  s2sxp translate \"9/27/94\" --heatmap attention.png\n"
                "  s2sxp translate 12+345 --run runs/peeky-addition\n"
                "  s2sxp translate \"I am here.\" --run runs/attention-char-pairs --beam 5\n"
                "  s2sxp translate --input test.ja --output test.out --run runs/bahdanau-spm-train "
                "--beam 5\n"
                "  cat questions.txt | s2sxp translate --n-best 3 --beam 5\n")
    p.add_argument("text", nargs="*", help="question(s) or sentence(s), as in the training data")
    p.add_argument("--input", default=None, metavar="FILE|-",
                   help="translate the lines of this UTF-8 file (-: standard input) instead")
    p.add_argument("--output", default=None, metavar="FILE",
                   help="write the translations into this file [default: standard output]")
    decoding_flags(p, n_best=True)
    run_flag(p)
    p.add_argument("--heatmap", default=None, metavar="PNG",
                   help="draw the attention map of the question into this PNG")
    p.add_argument("--max-input-length", type=positive, default=MAX_INPUT_LENGTH, metavar="N",
                   help="refuse a sentence of more than N characters (its decoding would take "
                   "time and memory without bound) [default: %(default)s]")
    backend_flag(p)


def _decoding(args, model, path):
    """The decoding options the flags ask for, and what translates with ``model``."""
    options, reader = decode_options(args), translator(model, path)
    if options.beam > 1 and not reader.beams:
        raise ValueError(f"--beam is for models trained on a parallel corpus; {path} answers "
                         "fixed-width questions, decoded greedily")
    return options, reader


def eval_(args):
    use_backend(args)
    model, path = load_model(args.run)
    options, _ = _decoding(args, model, path)
    split = scored_split(model, args.data, args.split, path, examples=args.examples,
                         source_column=args.source_column, langs=args.langs)
    bleu = args.bleu_tokenize or model.meta.get("bleu_tokenize") or "13a"
    more = _references(args, split)
    for note in split.notes(bleu):
        print(f"s2sxp eval: note: {note}", file=sys.stderr)
    _check_writable(args.output)
    scores, guesses = split.evaluate(model, options, bleu, progress=sys.stdout)
    if more:
        scores = split.rescored(guesses, more, bleu)
    split.show(guesses, args.count)
    if args.output:
        write_output(args.output, lambda f: f.write(
            "".join(line + "\n" for line in split.texts(guesses)).encode("utf-8")))
    decoding = "greedy" if options.beam == 1 else f"beam {options.beam}"
    if more:
        decoding += f", {1 + len(more)} references"
    scored = args.data or (args.split == "test" and model.meta.get("dev")) or model.meta.get(
        "data")
    print(f"{path} on {scored} ({split.heading(decoding)}): {split.summary(scores)}")
    if args.output:
        print(f"wrote {args.output}")
    return 0


def _references(args, split):
    """The further references of --references, each file's lines one a sentence of ``split``
    (the pairs of --data, in order)."""
    if not args.references:
        return []
    if args.data is None:
        raise ValueError("--references go line for line with a file of pairs: name it with "
                         "--data")
    out = []
    for path in args.references:
        lines = _read_lines(path)
        if len(lines) != len(split.x):
            raise ValueError(f"{path} has {len(lines)} lines but {args.data} {len(split.x)} "
                             "pairs: a file of references holds one a pair, line for line")
        out.append(lines)
    return out


def _described(model, path):
    """The model file a run folder named, in words: ``runs/x/best.npz (epoch 3)``."""
    epoch = model.meta.get("epoch")
    return f"{path}" + (f" (epoch {epoch})" if epoch is not None else "")


def _plot_attention(*args, **kwargs):
    """viz.plot_attention, its warning (glyphs no installed font has) told as a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz.plot_attention(*args, **kwargs)
    for w in caught:
        print(f"s2sxp translate: note: {w.message}", file=sys.stderr)


def _input_lines(args):
    """The sentences to translate: the command line's, or the lines of --input."""
    if args.input is None and not args.text and _piped_in():
        args.input = "-"                             # piped in: standard input is the input
    if args.input is None:
        if not args.text:
            raise ValueError("give the question(s) or sentence(s) to translate, or --input FILE")
        return args.text
    if args.text:
        raise ValueError("give the sentences on the command line or with --input, not both")
    return _read_lines(args.input)


def _read_lines(path):
    """The lines of the UTF-8 file at ``path`` (``-``: standard input), without their ends or
    a byte order mark; ValueError naming the first line that is not UTF-8."""
    if path == "-":
        data, name = sys.stdin.buffer.read(), "standard input"
    else:
        with open(path, "rb") as f:
            data, name = f.read(), path
    out = []
    for number, line in enumerate(decode_lines(data), start=1):
        if isinstance(line, UnicodeDecodeError):
            raise ValueError(f"{name}, line {number}: not UTF-8 ({line.reason})")
        out.append(line.rstrip("\r").lstrip("\ufeff" if number == 1 else ""))
    return out


def _piped_in():
    """Whether standard input is a pipe, a file or a socket to read (not a terminal, nor absent
    nor a device such as /dev/null)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def _check_lengths(sentences, args):
    """ValueError naming the first sentence longer than --max-input-length."""
    for number, sentence in enumerate(sentences, start=1):
        if len(sentence) > args.max_input_length:
            where = (f"{'standard input' if args.input == '-' else args.input}, line {number}"
                     if args.input is not None else f"sentence {number}")
            raise ValueError(f"{where}: {len(sentence)} characters, more than --max-input-length "
                             f"{args.max_input_length} (raise it to translate longer lines)")


def _check_writable(*paths):
    """OSError where a file the command would write cannot be written (its folder missing, not a
    folder or read-only, or the path a folder), before anything is written."""
    for path in paths:
        if path is None or path == "-":
            continue
        if os.path.isdir(path):
            raise IsADirectoryError(21, "is a folder, not a file", path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(2, "no such folder to write into", path)
        if os.path.exists(path) and not os.access(path, os.W_OK) or not os.access(folder,
                                                                                   os.W_OK):
            raise PermissionError(13, "cannot be written (permission denied)", path)


def _write_lines(args, lines):
    text = "".join(line + "\n" for line in lines)
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_output(args.output, lambda f: f.write(text.encode("utf-8")))


def translate(args):
    use_backend(args)
    model, path = load_model(args.run)
    sentences = _input_lines(args)
    if args.heatmap and len(sentences) != 1:
        raise ValueError("--heatmap draws one question; give one")
    _check_lengths(sentences, args)
    _check_writable(args.output, args.heatmap)
    options, reader = _decoding(args, model, path)
    start = time.perf_counter()
    out = reader.translate(sentences, options, skip_empty=args.input is not None)
    seconds = time.perf_counter() - start
    if out.unknown:
        print(f"s2sxp translate: note: not in the vocabulary of {path}, read as <unk>: "
              + ", ".join(map(repr, out.unknown[:20]))
              + (f" and {len(out.unknown) - 20} more" if len(out.unknown) > 20 else ""),
              file=sys.stderr)
    if options.n_best > 1:
        lines = [f"{n}\t{score:.4f}\t{text}"
                 for n, (texts, scores) in enumerate(zip(out.texts, out.scores), start=1)
                 for text, score in zip(texts, scores)]
    else:
        lines = out.texts
    _write_lines(args, lines)
    if args.input is not None:
        print(f"s2sxp translate: {len(sentences)} sentences in {seconds:.1f} s "
              f"({len(sentences) / max(seconds, 1e-9):.1f} sentences/s)", file=sys.stderr)
    if args.heatmap:                                 # one question: the weights are its own
        weights, source, answer, shown = reader.attention(out)
        _plot_attention(weights, source, answer, args.heatmap,
                        title=f"{model.kind}: {sentences[0].strip()} \u2192 {shown}")
        print(f"wrote {args.heatmap}")
    if path != args.run:                            # a run folder: which of its models
        print(f"s2sxp translate: {_described(model, path)}", file=sys.stderr)
    return 0
