"""``s2sxp eval`` and ``s2sxp translate``: a saved model scored on its data, or asked to answer
and translate what is typed, with the attention map of one answer."""
import sys
import time
import warnings

from .. import viz
from ..corpus import load_split
from ..datasets import DATASETS
from ..files import atomic_write
from ..metrics import evaluate_split, evaluate_translations, show_examples, show_translations
from ..pairs import decode_lines
from ..config import load_model_data
from ..run import load_model
from ..translation import answer_questions, answer_tokens, attention_map, translate_sentences
from ..vocab import TokenVocab
from .flags import (backend_flag, bleu_flag, command, corpus_flags, decoding_flags, percent,
                    positive, run_flag, scores_text, use_backend)


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
                "  s2sxp eval --run runs/bahdanau-jpn --beam 5   # a parallel corpus\n")
    run_flag(p)
    p.add_argument("--data", default=None, metavar="NAME|FILE",
                   help="dataset name or question_answer file, or for a model trained on a "
                   "parallel corpus a file of pairs, scored whole [default: the model's data, "
                   "its held-out split]")
    corpus_flags(p)
    p.add_argument("--examples", type=positive, default=None, metavar="N",
                   help="lines to generate for date or addition [default: the model's]")
    p.add_argument("--split", default="test", choices=["test", "train"],
                   help="[default: test]")
    p.add_argument("--count", type=int, default=10, metavar="N",
                   help="questions to print [default: 10]")
    decoding_flags(p)
    bleu_flag(p, None)
    backend_flag(p)


def add_translate(sub):
    p = command(sub, "translate", translate,
                "answer questions or translate sentences with a saved model",
                "Answer one or more questions (or translate sentences, for a model trained on "
                "a parallel corpus) with a saved model and print one answer per line: greedy "
                "decoding, or beam search with --beam on a corpus model. The sentences come "
                "from the command line or, one a line, from --input (a file, or - for standard "
                "input), translated in batches of similar lengths and written in their order, "
                "an empty line for an empty line. With --heatmap, also draw the attention map "
                "of the (single) question: its characters or words on x, the answer's on y.",
                "  s2sxp translate \"September 27, 1994\"\n"
                "  s2sxp translate \"9/27/94\" --heatmap attention.png\n"
                "  s2sxp translate 12+345 --run runs/peeky-addition\n"
                "  s2sxp translate \"I am here.\" --run runs/attention-char-pairs --beam 5\n"
                "  s2sxp translate --input test.ja --output test.out --run runs/bahdanau-spm-train "
                "--beam 5\n"
                "  cat questions.txt | s2sxp translate --input - --n-best 3 --beam 5\n")
    p.add_argument("text", nargs="*", help="question(s) or sentence(s), as in the training data")
    p.add_argument("--input", default=None, metavar="FILE|-",
                   help="translate the lines of this UTF-8 file (-: standard input) instead")
    p.add_argument("--output", default=None, metavar="FILE",
                   help="write the translations into this file [default: standard output]")
    p.add_argument("--n-best", type=positive, default=1, metavar="N",
                   help="beam search: the N best translations of each sentence, each line "
                   "SENTENCE-NUMBER<TAB>SCORE<TAB>TRANSLATION (score: the mean log-probability "
                   "a token, see --length-penalty) [default: 1, the translation alone]")
    run_flag(p)
    p.add_argument("--heatmap", default=None, metavar="PNG",
                   help="draw the attention map of the question into this PNG")
    decoding_flags(p)
    backend_flag(p)


def _is_corpus_model(model):
    return isinstance(model.vocab, TokenVocab)


def _check_decoding(args, model, path):
    if args.beam > 1 and not _is_corpus_model(model):
        raise ValueError(f"--beam is for models trained on a parallel corpus; {path} answers "
                         "fixed-width questions, decoded greedily")


def eval_(args):
    use_backend(args)
    model, path = load_model(args.run)
    _check_decoding(args, model, path)
    if _is_corpus_model(model):
        return _eval_corpus(args, model, path)
    data = load_model_data(model, args.data, args.examples, source=path)
    data_name = args.data or model.meta.get("data")
    scores, guesses = evaluate_split(model, data, args.split, progress=sys.stdout)
    x, t = (data.x_test, data.t_test) if args.split == "test" else (data.x_train, data.t_train)
    show_examples(x, t, guesses, model.vocab, count=args.count,
                  reversed_input=data.reversed_input)
    correct = int(round(scores["exact"] * len(x)))
    print(f"{path} on {data_name} ({args.split}): accuracy {percent(scores['exact'])} "
          f"({correct} of {len(x)})")
    return 0


def _eval_corpus(args, model, path):
    """A corpus model on a whole file of pairs (--data), or on its run's held-out split."""
    meta = model.meta
    bleu = args.bleu_tokenize or meta.get("bleu_tokenize") or "13a"
    decoding = "greedy" if args.beam == 1 else f"beam {args.beam}"
    options = dict(beam=args.beam, length_penalty=args.length_penalty,
                   early_stop=args.early_stop, bleu_tokenize=bleu,
                   progress=sys.stdout)
    if args.data is not None:
        if args.data in DATASETS:
            raise ValueError(f"{args.data} is a dataset of the book's questions, but {path} "
                             "translates sentences: give a file of sentence pairs with --data")
        langs = args.langs
        files = tuple(f"{args.data}.{lang}" for lang in langs) if langs else args.data
        split = load_split(files, model.vocab, model.source_vocab,
                           args.source_column or meta.get("source_column") or 1)
        x = split.x.reversed() if meta.get("reversed_input") else split.x
        scores, hypotheses = evaluate_translations(
            model, x, split.references, model.vocab,
            meta.get("max_output_length") or 2 * int(split.t.max_length), **options)
        show_translations(split.sources, split.references, hypotheses, args.count)
        print(f"{path} on {args.data} (all {len(split.references)} sentences, {decoding}): "
              f"{scores_text(scores)}")
        return 0
    data = load_model_data(model, source=path)
    scores, hypotheses = evaluate_split(model, data, args.split,
                                        max_length=meta.get("max_output_length"), **options)
    sources, references = ((data.src_test, data.ref_test) if args.split == "test"
                           else (data.src_train, data.ref_train))
    show_translations(sources, references, hypotheses, args.count)
    print(f"{path} on {meta.get('data')} ({args.split}, {len(references)} sentences, "
          f"{decoding}): {scores_text(scores)}")
    return 0


def _plot_attention(*args, **kwargs):
    """viz.plot_attention, its warning (glyphs no installed font has) told as a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz.plot_attention(*args, **kwargs)
    for w in caught:
        print(f"s2sxp translate: note: {w.message}", file=sys.stderr)


def _input_lines(args):
    """The sentences to translate: the command line's, or the lines of --input."""
    if args.input is None:
        if not args.text:
            raise ValueError("give the question(s) or sentence(s) to translate, or --input FILE")
        return args.text
    if args.text:
        raise ValueError("give the sentences on the command line or with --input, not both")
    if args.input == "-":
        data, name = sys.stdin.buffer.read(), "standard input"
    else:
        with open(args.input, "rb") as f:
            data, name = f.read(), args.input
    out = []
    for number, line in enumerate(decode_lines(data), start=1):
        if isinstance(line, UnicodeDecodeError):
            raise ValueError(f"{name}, line {number}: not UTF-8 ({line.reason})")
        out.append(line.rstrip("\r").lstrip("\ufeff" if number == 1 else ""))
    return out


def _write_lines(args, lines):
    text = "".join(line + "\n" for line in lines)
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(args.output, lambda f: f.write(text.encode("utf-8")))


def translate(args):
    use_backend(args)
    model, path = load_model(args.run)
    sentences = _input_lines(args)
    if args.heatmap and len(sentences) != 1:
        raise ValueError("--heatmap draws one question; give one")
    if args.n_best > 1 and args.n_best > args.beam:
        raise ValueError(f"--n-best {args.n_best} needs a beam of as many (--beam "
                         f"{args.n_best} or more)")
    _check_decoding(args, model, path)
    start = time.perf_counter()
    if _is_corpus_model(model):
        out = translate_sentences(model, sentences, beam=args.beam,
                                  length_penalty=args.length_penalty, n_best=args.n_best,
                                  early_stop=args.early_stop,
                                  skip_empty=args.input is not None)
        if out.unknown:
            print(f"s2sxp translate: note: not in the vocabulary of {path}, read as <unk>: "
                  + ", ".join(map(repr, out.unknown[:20]))
                  + (f" and {len(out.unknown) - 20} more" if len(out.unknown) > 20 else ""),
                  file=sys.stderr)
        if args.n_best > 1:
            lines = [f"{n}\t{score:.4f}\t{text}"
                     for n, (texts, scores) in enumerate(zip(out.texts, out.scores), start=1)
                     for text, score in zip(texts, scores)]
        else:
            lines = out.texts
        if args.heatmap:
            ids = out.ids[0] if args.n_best == 1 else out.ids[0, 0]
            source, answer = out.sources[0], answer_tokens(model.vocab, ids)
            shown = lines[0] if args.n_best == 1 else out.texts[0][0]
    else:
        keep = [i for i, s in enumerate(sentences) if args.input is None or s.strip()]
        answers = answer_questions(model, [sentences[i] for i in keep], path)
        lines = [""] * len(sentences)
        for i, answer in zip(keep, answers):
            lines[i] = answer.rstrip()
        if args.heatmap:
            source, answer = sentences[0].ljust(model.meta["question_width"]), answers[0]
            shown = answer.strip()
    seconds = time.perf_counter() - start
    _write_lines(args, lines)
    if args.input is not None:
        print(f"s2sxp translate: {len(sentences)} sentences in {seconds:.1f} s "
              f"({len(sentences) / max(seconds, 1e-9):.1f} sentences/s)", file=sys.stderr)
    if args.heatmap:                                 # one question: the weights are its own
        weights = attention_map(model, source, answer, path)
        _plot_attention(weights, source, answer, args.heatmap,
                        title=f"{model.kind}: {sentences[0].strip()} \u2192 {shown}")
        print(f"wrote {args.heatmap}")
    return 0
