"""How good translations are: corpus BLEU and chrF through sacrebleu, and exact match."""

#: sacrebleu's BLEU tokenisations that need nothing else installed.
BLEU_TOKENIZERS = ("13a", "intl", "char", "zh", "none")


def _check(hypotheses, references):
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("no sentences to score")
    if not all(isinstance(s, str) for s in hypotheses + references):
        raise ValueError("hypotheses and references must be strings")
    return hypotheses, references


def bleu(hypotheses, references, tokenize="13a"):
    """Corpus BLEU (0-100) of one reference per hypothesis."""
    from sacrebleu.metrics import BLEU

    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"unknown BLEU tokenize {tokenize!r}; choose one of "
                         + ", ".join(BLEU_TOKENIZERS))
    hypotheses, references = _check(hypotheses, references)
    return float(BLEU(tokenize=tokenize).corpus_score(hypotheses, [references]).score)


def chrf(hypotheses, references):
    """Corpus chrF (0-100)."""
    from sacrebleu.metrics import CHRF

    hypotheses, references = _check(hypotheses, references)
    return float(CHRF().corpus_score(hypotheses, [references]).score)


def exact_match(hypotheses, references):
    """The fraction (0-1) of hypotheses equal to their reference."""
    hypotheses, references = _check(hypotheses, references)
    return sum(h == r for h, r in zip(hypotheses, references)) / len(references)
