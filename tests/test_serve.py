"""The translation service through Starlette's test client: every route, every error answered
as it should be and the server going on after each, the translations of ``s2sxp translate``,
requests that wait together translated together, each answered with its own, and, as a real
process, SIGTERM answering the request in flight, the access log, and the command's own
mistakes."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
from starlette.testclient import TestClient  # noqa: E402

from s2sxp import cli, io  # noqa: E402
from s2sxp.serve.app import Service, create_app  # noqa: E402
from s2sxp.serve.protocol import Limits  # noqa: E402
from s2sxp.translation import translator  # noqa: E402
from serving import japanese_model, japanese_pairs  # noqa: E402,F401

SENTENCES = [s for s, _ in japanese_pairs(6, seed=5)]


@pytest.fixture
def client(japanese_model, xp32):
    with TestClient(create_app(Service(io.load(japanese_model), str(japanese_model)))) as c:
        yield c


class Gated(Service):
    """The service with its first translation held until ``gate`` opens, and every call
    recorded; a sentence "boom" raises RuntimeError."""

    def __init__(self, path):
        super().__init__(io.load(path), str(path))
        self.gate, self.calls = threading.Event(), []

    def translate(self, key, sentences):
        self.calls.append(list(sentences))
        if len(self.calls) == 1:
            assert self.gate.wait(30)
        if "boom" in sentences:
            raise RuntimeError("a fault in the model")
        return super().translate(key, sentences)


def _wait_for(client, waiting):
    """Ask /health until ``waiting`` sentences wait for a batch."""
    for _ in range(100_000):
        if client.get("/health").json()["waiting"] >= waiting:
            return
    raise AssertionError(f"{waiting} sentences never waited")


def _cli(capsys, path, sentences, *flags):
    capsys.readouterr()
    assert cli.main(["translate", *sentences, "--run", str(path), *flags]) == 0
    return capsys.readouterr().out.splitlines()


def test_every_route_answers(client, japanese_model):
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/info").json()
    assert info["kind"] == "bahdanau" and info["tokens"] == "char" and info["attention"]
    assert info["config"]["hidden_size"] == 32 and info["vocabulary"]["source"] > 20
    assert info["limits"]["max_beam"] == Limits().max_beam and info["version"]
    page = client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<meta charset="utf-8">' in page.text and 'id="heatmap"' in page.text
    assert client.get("/translate").status_code == 405
    assert client.get("/nowhere").status_code == 404


@pytest.mark.parametrize("flags", [[], ["--beam", "3"], ["--beam", "3", "--n-best", "2",
                                                         "--length-penalty", "0.5"]])
def test_the_translations_are_those_of_the_command_line(client, japanese_model, capsys, flags):
    options = {"beam": 3} if flags else {}
    if "--n-best" in flags:
        options.update(n_best=2, length_penalty=0.5)
    lines = _cli(capsys, japanese_model, SENTENCES, *flags)
    many = client.post("/translate", json={"texts": SENTENCES, **options}).json()
    one = client.post("/translate", json={"text": SENTENCES[0], **options}).json()
    if "--n-best" in flags:
        rows = [line.split("\t") for line in lines]
        assert [[f"{b['score']:.4f}", b["translation"]] for best in many["n_best"]
                for b in best] == [row[1:] for row in rows]
        assert many["translations"] == [best[0]["translation"] for best in many["n_best"]]
        assert [b["translation"] for b in one["n_best"]] == [
            b["translation"] for b in many["n_best"][0]]
        assert [b["score"] for b in one["n_best"]] == pytest.approx(
            [b["score"] for b in many["n_best"][0]], abs=1e-5)     # float32, other batch
    else:
        assert many["translations"] == lines and one["translation"] == lines[0]
        assert (one["score"] is None) == (not flags) and len(many["scores"]) == len(lines)


def test_the_attention_is_that_of_the_heatmap(client, japanese_model):
    answer = client.post("/translate", json={"text": SENTENCES[1], "attention": True}).json()
    reader = translator(io.load(japanese_model))
    weights, source, target, shown = reader.attention(reader.translate([SENTENCES[1]]))
    attention = answer["attention"]
    assert attention["source"] == list(SENTENCES[1]) == source and attention["target"] == target
    numpy.testing.assert_allclose(attention["weights"], weights, atol=1e-6)
    assert answer["translation"] == shown
    many = client.post("/translate", json={"texts": SENTENCES[:2], "attention": True}).json()
    assert many["attention"][1] == attention and many["translations"][1] == shown


BAD = [(b"{", "not JSON"), (b"\xff\xfe", "not UTF-8"), (b"[1]", "a JSON object"),
       (b'{"text": "a", "colour": 1}', "unknown option 'colour'"),
       (b'{"text": "a", "texts": ["b"]}', "either"), (b'{}', "either"),
       (b'{"text": "   "}', "text must be a sentence"), (b'{"text": 3}', "text must be"),
       (b'{"texts": ["a", 1]}', "texts must be a list"), (b'{"texts": []}', "texts must be"),
       (b'{"text": "a", "beam": 17}', "limit of 16"), (b'{"text": "a", "beam": 0}', "from 1"),
       (b'{"text": "a", "beam": "5"}', "beam must be a whole number"),
       (b'{"text": "a", "beam": 2, "n_best": 3}', "n_best must be from 1 to the beam"),
       (b'{"text": "a", "max_length": 201}', "limit of 200"),
       (b'{"text": "a", "length_penalty": NaN}', "finite number"),
       (b'{"text": "a", "attention": 1}', "true or false"),
       (json.dumps({"text": "猫" * 1001}).encode(), "at most 1000 a sentence"),
       (json.dumps({"texts": ["猫"] * 257}).encode(), "at most 256 a request")]


@pytest.mark.parametrize("body, says", BAD, ids=[m for _, m in BAD])
def test_a_bad_request_is_told_what_is_wrong_in_one_line(client, body, says):
    response = client.post("/translate", content=body)
    assert response.status_code == 400
    message = response.json()["error"]
    assert says in message and "\n" not in message
    assert client.post("/translate", json={"text": SENTENCES[0]}).status_code == 200


def test_a_body_over_the_limit_is_413_declared_or_streamed(client):
    big = json.dumps({"text": "猫" * 400_000}).encode()
    assert client.post("/translate", content=big).status_code == 413
    streamed = client.post("/translate", content=iter([big[:600_000], big[600_000:]]))
    assert streamed.status_code == 413 and "1000000 bytes" in streamed.json()["error"]
    assert client.post("/translate", json={"text": SENTENCES[0]}).status_code == 200


def test_waiting_requests_are_translated_together_each_answered_its_own(
        japanese_model, capsys, xp32):
    expected = dict(zip(SENTENCES, _cli(capsys, japanese_model, SENTENCES)))
    service = Gated(japanese_model)
    with TestClient(create_app(service)) as client, ThreadPoolExecutor(12) as pool:
        first = pool.submit(client.post, "/translate", json={"text": SENTENCES[0]})
        while not service.calls:
            client.get("/health")
        asked = [SENTENCES[i % len(SENTENCES)] for i in range(11)]
        answers = [pool.submit(client.post, "/translate", json={"text": s}) for s in asked]
        _wait_for(client, len(asked))
        service.gate.set()
        assert first.result().json()["translation"] == expected[SENTENCES[0]]
        assert [a.result().json()["translation"] for a in answers] == [expected[s] for s in asked]
    assert [len(c) for c in service.calls] == [1, 11]
    assert sorted(service.calls[1]) == sorted(asked)


def test_a_full_queue_is_503_with_retry_after_and_no_backlog(japanese_model, xp32):
    service = Gated(japanese_model)
    app = create_app(service, Limits(max_queue=4))
    with TestClient(app) as client, ThreadPoolExecutor(4) as pool:
        first = pool.submit(client.post, "/translate", json={"text": SENTENCES[0]})
        while not service.calls:
            client.get("/health")
        waiting = pool.submit(client.post, "/translate", json={"texts": SENTENCES[:4]})
        _wait_for(client, 4)
        refused = client.post("/translate", json={"text": SENTENCES[1]})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "4 sentences wait already" in refused.json()["error"]
        service.gate.set()
        assert first.result().status_code == waiting.result().status_code == 200
        assert client.post("/translate", json={"text": SENTENCES[1]}).status_code == 200


def test_a_failing_request_leaves_its_batch_and_the_server_answering(japanese_model, xp32):
    service = Gated(japanese_model)
    with TestClient(create_app(service)) as client, ThreadPoolExecutor(4) as pool:
        first = pool.submit(client.post, "/translate", json={"text": SENTENCES[0]})
        while not service.calls:
            client.get("/health")
        good = pool.submit(client.post, "/translate", json={"texts": SENTENCES[1:3]})
        bad = pool.submit(client.post, "/translate", json={"texts": [SENTENCES[3], "boom"]})
        _wait_for(client, 4)
        service.gate.set()
        assert first.result().status_code == good.result().status_code == 200
        assert bad.result().status_code == 500
        assert bad.result().json()["error"] == ("the translation failed: RuntimeError: a fault "
                                                "in the model")
        assert len(good.result().json()["translations"]) == 2
        assert client.post("/translate", json={"text": SENTENCES[0]}).status_code == 200
    assert [len(c) for c in service.calls] == [1, 4, 2, 2, 1]


def test_a_question_the_model_cannot_answer_is_400(tmp_path, xp32):
    assert cli.main(["train", "--examples", "200", "--out", str(tmp_path), "--epochs", "1",
                     "--wordvec-size", "4", "--hidden-size", "8", "--seed", "0"]) == 0
    model = io.load(tmp_path / "model.npz")
    with TestClient(create_app(Service(model, "date"))) as client:
        answer = client.post("/translate", json={"texts": ["9/27/94", "July 4, 1976"]})
        assert answer.status_code == 200 and len(answer.json()["translations"]) == 2
        long = client.post("/translate", json={"text": "9" * 40})
        assert long.status_code == 400 and "\n" not in long.json()["error"]
        beam = client.post("/translate", json={"text": "9/27/94", "beam": 3})
        assert beam.status_code == 400 and "greedily" in beam.json()["error"]


def _start(path, *flags):
    """``s2sxp serve`` on a free port as a process: (the process, its URL)."""
    process = subprocess.Popen([sys.executable, "-m", "s2sxp", "serve", "--run", str(path),
                                "--port", "0", *flags], stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    first = process.stderr.readline()
    found = re.search(r" on (http://\S+)$", first)
    assert found, first
    return process, found.group(1)


def _post(url, body):
    import urllib.request
    request = urllib.request.Request(url + "/translate", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, json.loads(response.read())


def _read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
            re.search(rb"content-length: (\d+)", data, re.I).group(1)):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


def test_sigterm_answers_the_request_in_flight_then_exits_0(japanese_model):
    """The request is held in flight by its client: it asks to continue (Expect: 100-continue),
    which the server answers once it reads the body, sends SIGTERM, waits for the server to say
    that it is shutting down, and only then sends the body."""
    process, url = _start(japanese_model)
    try:
        assert _post(url, {"text": SENTENCES[0]})[0] == 200
        body = json.dumps({"texts": SENTENCES, "beam": 3}).encode()
        host, port = url[len("http://"):].split(":")
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                         % len(body))
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
            process.send_signal(signal.SIGTERM)
            while "Shutting down" not in process.stderr.readline():
                pass
            sock.sendall(body)
            status, answer = _read_response(sock)
        assert process.wait(60) == 0
    finally:
        process.kill()
    log = process.stderr.read()
    assert status == 200 and len(answer["translations"]) == len(SENTENCES)
    lines = re.findall(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                       r'"(\w+) (\S+) HTTP/1\.1" (\d+) (\d+) (\d+) (\d+\.\d)ms$', log, re.M)
    assert [(m, p, s, n) for m, p, s, _, n, _ in lines] == [
        ("POST", "/translate", "200", str(len(SENTENCES)))]


def test_the_command_refuses_its_mistakes_in_one_line(japanese_model, tmp_path, capsys):
    for flags, says in ((["--run", str(tmp_path / "none")], "no run folder or model file"),
                        (["--run", str(japanese_model), "--batch-wait", "-1"],
                         "--batch-wait must be 0 or more")):
        assert cli.main(["serve", *flags]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1
    process, url = _start(japanese_model)
    try:
        port = url.rsplit(":", 1)[1]
        assert cli.main(["serve", "--run", str(japanese_model), "--port", port]) == 2
        assert "Address already in use" in capsys.readouterr().err
    finally:
        process.terminate()
        assert process.wait(60) == 0
