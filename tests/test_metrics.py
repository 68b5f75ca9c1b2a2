"""BLEU and chrF are sacrebleu's own; exact match is the book's accuracy on strings."""
import pytest
import sacrebleu

from s2sxp import metrics

HYPOTHESES = ["the cat sat on the mat", "a dog runs", "birds fly south in winter"]
REFERENCES = ["the cat sat on a mat", "a dog runs", "in winter birds fly south"]


def test_bleu_and_chrf_are_sacrebleus_corpus_scores():
    assert metrics.bleu(HYPOTHESES, REFERENCES) == pytest.approx(
        sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score)
    assert metrics.bleu(HYPOTHESES, REFERENCES, tokenize="char") == pytest.approx(
        sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], tokenize="char").score)
    assert metrics.chrf(HYPOTHESES, REFERENCES) == pytest.approx(
        sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score)
    assert 0 < metrics.bleu(HYPOTHESES, REFERENCES) < 100


def test_perfect_translations_score_100_and_exact_match_counts_equal_strings():
    assert metrics.bleu(REFERENCES, REFERENCES) == pytest.approx(100)
    assert metrics.chrf(REFERENCES, REFERENCES) == pytest.approx(100)
    assert metrics.exact_match(HYPOTHESES, REFERENCES) == pytest.approx(1 / 3)


def test_scores_refuse_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="3 hypotheses but 2 references"):
        metrics.bleu(HYPOTHESES, REFERENCES[:2])
    with pytest.raises(ValueError, match="no sentences"):
        metrics.chrf([], [])
    with pytest.raises(ValueError, match="must be strings"):
        metrics.exact_match([1], ["1"])
    with pytest.raises(ValueError, match="unknown BLEU tokenize 'moses'"):
        metrics.bleu(HYPOTHESES, REFERENCES, tokenize="moses")
