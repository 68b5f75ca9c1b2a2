"""The page of ``s2sxp serve`` in headless Chromium (skipped only where no Chromium and
chromedriver can be had): a Japanese sentence typed, its translation, n-best list and attention
heatmap shown as the API gives them, the Japanese drawn in a Japanese font."""
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
from benchmarks.browser import (Unavailable, chromium, draws_glyphs, served,  # noqa: E402
                                translate_on_page)
from s2sxp import io  # noqa: E402
from s2sxp.serve.app import Service, create_app  # noqa: E402
from serving import japanese_model, japanese_pairs  # noqa: E402,F401


@pytest.fixture(scope="module")
def browser():
    try:
        with chromium() as driver:
            yield driver
    except Unavailable as e:
        pytest.skip(str(e))


def test_the_page_translates_and_draws_the_attention(browser, japanese_model, xp32):
    sentence = japanese_pairs(1, seed=7)[0][0]
    app = create_app(Service(io.load(japanese_model), str(japanese_model)))
    with served(app) as url:
        shown = translate_on_page(browser, url + "/", sentence, beam=3, n_best=2)
        from starlette.testclient import TestClient
        with TestClient(app) as client:
            api = client.post("/translate", json={"text": sentence, "beam": 3, "n_best": 2,
                                                  "attention": True}).json()
    assert shown["state"] == "done", shown["error"]
    assert shown["translation"] == api["translation"]
    assert shown["n_best"] == [[b["translation"], f"{b['score']:.4f}"] for b in api["n_best"]]
    attention = api["attention"]
    assert shown["source"] == attention["source"] == list(sentence)
    assert shown["target"] == [t if t != " " else "\u2423" for t in attention["target"]]
    assert set(shown["source_lang"]) == {"ja"}
    rows, columns = len(attention["target"]), len(attention["source"])
    assert sorted((r, c) for r, c, _, _ in shown["cells"]) == [
        (r, c) for r in range(rows) for c in range(columns)]
    for r, c, weight, fill in shown["cells"]:
        assert weight == pytest.approx(attention["weights"][r][c], abs=1e-12)
        gray = round(255 * weight)
        assert fill == f"rgb({gray},{gray},{gray})"
    assert not draws_glyphs(browser, "\ue000\ue001", "\ue002\ue003")   # no font has these
    assert draws_glyphs(browser, "猫が", "犬の"), (
        "no installed font draws Japanese (Debian: apt-get install fonts-ipafont-gothic)")
