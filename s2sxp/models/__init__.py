"""The models: the book's Seq2seq, PeekySeq2seq and AttentionSeq2seq, and BahdanauSeq2seq
(additive attention); ``build`` makes one by its ``kind``."""
from .attention import AttentionSeq2seq
from .bahdanau import BahdanauSeq2seq
from .seq2seq import PeekySeq2seq, Seq2seq

MODELS = {cls.kind: cls for cls in (Seq2seq, PeekySeq2seq, AttentionSeq2seq,
                                     BahdanauSeq2seq)}


def build(kind, vocab_size, wordvec_size, hidden_size, **options):
    """The model registered under ``kind`` (see ``MODELS``)."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
    return MODELS[kind](vocab_size, wordvec_size, hidden_size, **options)


__all__ = ["AttentionSeq2seq", "BahdanauSeq2seq", "MODELS", "PeekySeq2seq", "Seq2seq", "build"]
