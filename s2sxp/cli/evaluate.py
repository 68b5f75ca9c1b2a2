"""``s2sxp eval`` and ``s2sxp translate``: a saved model scored on its data, or asked to answer
and translate what is typed, with the attention map of one answer."""
import sys
import warnings

from .. import metrics, viz
from ..metrics import evaluate_split, show_examples, show_translations
from ..config import load_model_data
from ..run import load_model
from ..translation import answer_questions, answer_tokens, attention_map, translate_sentences
from ..vocab import TokenVocab
from .flags import (backend_flag, command, decoding_flags, percent, positive, run_flag,
                    scores_text, use_backend)


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
                   help="dataset name or question_answer file [default: the model's]")
    p.add_argument("--examples", type=positive, default=None, metavar="N",
                   help="lines to generate for date or addition [default: the model's]")
    p.add_argument("--split", default="test", choices=["test", "train"],
                   help="[default: test]")
    p.add_argument("--count", type=int, default=10, metavar="N",
                   help="questions to print [default: 10]")
    decoding_flags(p)
    p.add_argument("--bleu-tokenize", default="13a", choices=list(metrics.BLEU_TOKENIZERS),
                   help="how sacrebleu splits the text for BLEU (char: for Japanese or Chinese "
                   "without a segmenter) [default: 13a]")
    backend_flag(p)


def add_translate(sub):
    p = command(sub, "translate", translate,
                "answer questions or translate sentences with a saved model",
                "Answer one or more questions (or translate sentences, for a model trained on "
                "a parallel corpus) with a saved model and print one answer per line: greedy "
                "decoding, or beam search with --beam on a corpus model. With --heatmap, also "
                "draw the attention map of the (single) question: its characters or words on "
                "x, the answer's on y.",
                "  s2sxp translate \"September 27, 1994\"\n"
                "  s2sxp translate \"9/27/94\" --heatmap attention.png\n"
                "  s2sxp translate 12+345 --run runs/peeky-addition\n"
                "  s2sxp translate \"I am here.\" --run runs/attention-char-pairs --beam 5\n")
    p.add_argument("text", nargs="+", help="question(s) or sentence(s), as in the training data")
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
    data = load_model_data(model, args.data, args.examples, source=path)
    data_name = args.data or model.meta.get("data")
    if _is_corpus_model(model):
        scores, hypotheses = evaluate_split(
            model, data, args.split, beam=args.beam, length_penalty=args.length_penalty,
            bleu_tokenize=args.bleu_tokenize, max_length=model.meta.get("max_output_length"),
            progress=sys.stdout)
        sources, references = ((data.src_test, data.ref_test) if args.split == "test"
                               else (data.src_train, data.ref_train))
        show_translations(sources, references, hypotheses, args.count)
        decoding = "greedy" if args.beam == 1 else f"beam {args.beam}"
        print(f"{path} on {data_name} ({args.split}, {len(references)} sentences, {decoding}): "
              f"{scores_text(scores)}")
        return 0
    scores, guesses = evaluate_split(model, data, args.split, progress=sys.stdout)
    x, t = (data.x_test, data.t_test) if args.split == "test" else (data.x_train, data.t_train)
    show_examples(x, t, guesses, model.vocab, count=args.count,
                  reversed_input=data.reversed_input)
    correct = int(round(scores["exact"] * len(x)))
    print(f"{path} on {data_name} ({args.split}): accuracy {percent(scores['exact'])} "
          f"({correct} of {len(x)})")
    return 0


def _plot_attention(*args, **kwargs):
    """viz.plot_attention, its warning (glyphs no installed font has) told as a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz.plot_attention(*args, **kwargs)
    for w in caught:
        print(f"s2sxp translate: note: {w.message}", file=sys.stderr)


def translate(args):
    use_backend(args)
    model, path = load_model(args.run)
    if args.heatmap and len(args.text) > 1:
        raise ValueError("--heatmap draws one question; give one")
    _check_decoding(args, model, path)
    if _is_corpus_model(model):
        out = translate_sentences(model, args.text, beam=args.beam,
                                  length_penalty=args.length_penalty)
        if out.unknown:
            print(f"s2sxp translate: note: not in the vocabulary of {path}, read as <unk>: "
                  + ", ".join(map(repr, out.unknown)), file=sys.stderr)
        lines, source, answer = out.texts, out.sources[0], answer_tokens(model.vocab, out.ids[0])
        shown = out.texts[0]
    else:
        answers = answer_questions(model, args.text, path)
        lines = [a.rstrip() for a in answers]
        source, answer = args.text[0].ljust(model.meta["question_width"]), answers[0]
        shown = answer.strip()
    for line in lines:
        print(line)
    if args.heatmap:                                 # one question: the weights are its own
        weights = attention_map(model, source, answer, path)
        _plot_attention(weights, source, answer, args.heatmap,
                        title=f"{model.kind}: {args.text[0].strip()} \u2192 {shown}")
        print(f"wrote {args.heatmap}")
    return 0
