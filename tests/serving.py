"""What the tests of the translation service share: a tiny Japanese-to-made-up-language model
trained by ``s2sxp train`` (its sources Japanese characters)."""
import pytest

from s2sxp import cli, corpus

#: The source words of the tests' corpus: each made-up source word becomes one of these.
WORDS = ["猫", "犬", "見る", "食べる", "学生", "今日", "暑い", "好き", "本", "水", "山", "川", "車",
         "友達", "先生", "電車", "雨", "花", "海", "空"]
TINY = ["--wordvec-size", "16", "--hidden-size", "32", "--batch-size", "32", "--seed", "0",
        "--epochs", "4", "--tokens", "char", "--model", "bahdanau"]


def japanese_pairs(n, seed=0):
    """n pairs of Japanese sentences (words of WORDS, no spaces, a closing 。) and their
    word-for-word translation into corpus.synthetic_pairs's made-up language."""
    lexicon = sorted({w for s, _ in corpus.synthetic_pairs(200, seed=0) for w in s.split()})
    japanese = dict(zip(lexicon, WORDS))
    return [("".join(japanese[w] for w in source.split()) + "。", target)
            for source, target in corpus.synthetic_pairs(n, seed=seed, max_words=5)]


@pytest.fixture(scope="session")
def japanese_model(tmp_path_factory):
    """The path of a tiny Bahdanau model trained on japanese_pairs, read by characters."""
    folder = tmp_path_factory.mktemp("serve")
    corpus.write_pairs(folder / "pairs.tsv", japanese_pairs(600))
    assert cli.main(["train", "--data", str(folder / "pairs.tsv"), "--out", str(folder / "run"),
                     *TINY]) == 0
    return folder / "run" / "model.npz"
