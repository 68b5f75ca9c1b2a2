"""The page of ``s2sxp serve`` in a real browser: headless Chromium driven by Selenium through
the system's chromedriver (Debian: ``apt-get install chromium chromium-driver``; a Japanese
font such as fonts-ipafont-gothic for Japanese text). Used by the page's test, and to take the
screenshot of the README:

    python -m benchmarks.browser --run runs/ja-en/best.npz --sentence "今日は暑いですね。" \\
        --out benchmarks/results/serve/page.png
"""
import argparse
import contextlib
import shutil
import threading

#: Where the browser and its driver are looked for, in order.
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class Unavailable(RuntimeError):
    """No headless Chromium can be had here: what is missing."""


@contextlib.contextmanager
def chromium(width=1100, height=900):
    """A Selenium driver of a headless Chromium, closed when the block ends; Unavailable where
    Selenium, the browser or its driver is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        raise Unavailable(f"Selenium is not installed ({e})") from None
    binary = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        raise Unavailable("Chromium and chromedriver are not installed (Debian: apt-get install "
                          "chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def served(app):
    """The URL of the ASGI ``app`` served by uvicorn on a free port of localhost, in a thread,
    until the block ends."""
    import uvicorn

    from s2sxp.serve.server import listening, url_of

    sock = listening("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def translate_on_page(driver, url, sentence, beam=5, n_best=3, timeout=60):
    """Load the page at ``url``, type ``sentence``, ask for its translation and wait for it;
    returns what the page shows: {"translation", "n_best": [[text, score]], "source" and
    "target": the heatmap's labels, "cells": [[row, column, weight, fill]]}."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, timeout)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
               == "ready")
    for name, value in (("beam", beam), ("nbest-count", n_best)):
        field = driver.find_element(By.ID, name)
        field.clear()
        field.send_keys(str(value))
    driver.find_element(By.ID, "source").send_keys(sentence)
    driver.find_element(By.ID, "go").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
               in ("done", "failed"))
    return driver.execute_script("""
        const texts = selector => [...document.querySelectorAll(selector)].map(e => e.textContent);
        return {
          state: document.body.dataset.state,
          error: document.getElementById("status").textContent,
          translation: document.getElementById("translation").textContent,
          n_best: [...document.querySelectorAll("#nbest tr")].map(
            row => [row.cells[1].textContent, row.cells[2].textContent]),
          source: texts("#heatmap text.source"), target: texts("#heatmap text.target"),
          source_lang: [...document.querySelectorAll("#heatmap text.source")].map(e => e.lang),
          cells: [...document.querySelectorAll("#heatmap rect.cell")].map(r => [
            Number(r.dataset.row), Number(r.dataset.col), Number(r.dataset.weight),
            r.getAttribute("fill")]),
        };""")


def draws_glyphs(driver, text, other):
    """Whether the page's Japanese font draws ``text`` and ``other`` (as many characters) as two
    different images: False where both come out as the same boxes of a missing glyph."""
    return driver.execute_script("""
        const probe = document.createElement("span");
        probe.lang = "ja";
        document.body.appendChild(probe);
        const family = getComputedStyle(probe).fontFamily;
        probe.remove();
        const image = text => {
          const canvas = document.createElement("canvas");
          canvas.width = 48 * text.length; canvas.height = 64;
          const context = canvas.getContext("2d");
          context.font = `40px ${family}`;
          context.fillText(text, 4, 48);
          return canvas.toDataURL();
        };
        return image(arguments[0]) !== image(arguments[1]);""", text, other)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.browser",
                                description="A screenshot of the page of s2sxp serve, a "
                                "sentence translated there.")
    p.add_argument("--run", required=True, help="the model (a run folder or .npz)")
    p.add_argument("--sentence", required=True)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--n-best", type=int, default=3)
    p.add_argument("--out", required=True, help="the PNG to write")
    args = p.parse_args(argv)
    from s2sxp.folder import load_model
    from s2sxp.serve.app import Service, create_app

    model, path = load_model(args.run)
    with served(create_app(Service(model, path))) as url, chromium() as driver:
        shown = translate_on_page(driver, url + "/", args.sentence, args.beam, args.n_best)
        if shown["state"] != "done":
            raise SystemExit(f"the page failed: {shown['error']}")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, height + 40)
        driver.save_screenshot(args.out)
    print(f"wrote {args.out}: {args.sentence} -> {shown['translation']}")


if __name__ == "__main__":
    main()
