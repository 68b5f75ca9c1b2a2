"""The translation service as an ASGI application (Starlette): a loaded model behind
``POST /translate``, ``GET /health``, ``GET /info`` and ``GET /`` (a page that translates what
is typed and draws its attention), its requests batched together (:mod:`.batcher`), one line
logged for each.

What a request may ask and how it is answered: :mod:`.protocol`. Errors: 400 with a one-line
``{"error": ...}`` for a request the service cannot take, 413 for a body past ``max_body``,
503 with Retry-After where the queue is full, 500 (the server going on) where the translation
itself failed.
"""
import dataclasses
import logging
import time
from contextlib import asynccontextmanager
from importlib import resources

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from .. import __version__, backend
from ..translation import translator
from .batcher import Batcher, QueueFull
from .protocol import BadRequest, Limits, answer, merged, read_request

#: The logger of the access log: one line a request.
ACCESS = logging.getLogger("s2sxp.serve.access")
#: The models whose attention can be drawn.
ATTENDING = ("attention", "bahdanau")


class Service:
    """A loaded model's side of the service: what translates with it (on the batcher's worker
    thread) and what it says of itself."""

    def __init__(self, model, name):
        self.model, self.name = model, name
        self.reader = translator(model, name)
        self.attends = model.kind in ATTENDING

    def translate(self, key, sentences):
        """The JSON answer of each of ``sentences``, translated as ``key`` (DecodeOptions,
        attention) says; with the attention, each sentence is translated alone, as ``s2sxp
        translate --heatmap`` does."""
        options, attention = key
        if attention:
            return [self.attention(s, options) for s in sentences]
        out = self.reader.translate(sentences, options, skip_empty=True)
        return [answer(out, i, blank=not s.strip()) for i, s in enumerate(sentences)]

    def attention(self, sentence, options):
        out = self.reader.translate([sentence], options, skip_empty=True)
        result = answer(out, 0, blank=not sentence.strip())
        result["attention"] = None
        if sentence.strip():
            weights, source, target, _ = self.reader.attention(out)
            result["attention"] = {"source": list(source), "target": list(target),
                                   "weights": weights.tolist()}
        return result

    def info(self):
        """What ``GET /info`` tells of the model."""
        model, meta = self.model, self.model.meta
        source = getattr(model, "source_vocab", None) or model.vocab
        return {"model": self.name, "kind": model.kind, "config": meta.get("config"),
                "parameters": int(sum(p.size for p in model.params)),
                "vocabulary": {"source": len(source), "target": len(model.vocab)},
                "tokens": meta.get("tokens", "char"), "data": meta.get("data"),
                "epoch": meta.get("epoch"), "reversed_input": bool(meta.get("reversed_input")),
                "attention": self.attends, "beams": self.reader.beams,
                "backend": backend.name(), "version": __version__}


def error(status, message, headers=None):
    return JSONResponse({"error": message}, status, headers=headers)


async def body_of(request, limit):
    """The request's body, or None where it runs past ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(service, limits=Limits()):
    """The application serving ``service`` (a :class:`Service`) within ``limits``."""
    batcher = Batcher(service.translate, limits.batch_size, limits.batch_wait / 1000,
                      limits.max_queue)

    async def translate(request):
        body = await body_of(request, limits.max_body)
        if body is None:
            return error(413, f"the body is over this server's limit of {limits.max_body} bytes")
        try:
            ask = read_request(body, limits, service.reader.beams)
        except BadRequest as e:
            return error(400, str(e))
        if ask.attention and not service.attends:
            return error(400, f"{service.name} holds a {service.model.kind} model, which has no "
                         "attention to show (the attention and bahdanau models have)")
        request.state.sentences = len(ask.sentences)
        try:
            answers = await batcher.submit(ask.sentences, (ask.options, ask.attention))
        except QueueFull as e:
            return error(503, f"the server is busy: {e}; try again shortly", {"Retry-After": "1"})
        except ValueError as e:
            return error(400, " ".join(str(e).split()))
        except Exception as e:
            return error(500, f"the translation failed: {type(e).__name__}: "
                         f"{' '.join(str(e).split())}")
        return JSONResponse(merged(answers, ask.single))

    async def health(request):
        return JSONResponse({"status": "ok", "waiting": batcher.waiting,
                             "translating": batcher.working, "batches": batcher.batches})

    async def info(request):
        return JSONResponse({**service.info(), "limits": dataclasses.asdict(limits)})

    async def page(request):
        return HTMLResponse(resources.files(__package__).joinpath("page.html").read_text(
            encoding="utf-8"))

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = Starlette(routes=[Route("/translate", translate, methods=["POST"]),
                            Route("/health", health), Route("/info", info), Route("/", page)],
                    lifespan=lifespan)
    app.state.batcher = batcher
    return AccessLog(app)


class AccessLog:
    """ASGI middleware: one line a request on :data:`ACCESS`, in the Common Log Format
    followed by the sentences it asked for and its latency:
    ``127.0.0.1 - - [07/Dec/2026:20:15:02 +0000] "POST /translate HTTP/1.1" 200 61 1 12.3ms``."""

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, sent = time.perf_counter(), {"status": 500, "bytes": 0}

        async def sending(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = (scope.get("client") or ("-",))[0]
            path = scope.get("raw_path") or scope["path"].encode("utf-8")
            if scope.get("query_string"):
                path += b"?" + scope["query_string"]
            line = (f"{scope['method']} {path.decode('latin-1')} "
                    f"HTTP/{scope.get('http_version', '1.1')}")
            ACCESS.info('%s - - [%s] "%s" %d %d %d %.1fms', client,
                        time.strftime("%d/%b/%Y:%H:%M:%S %z"), line, sent["status"],
                        sent["bytes"], scope.get("state", {}).get("sentences", 0),
                        1000 * (time.perf_counter() - start))
