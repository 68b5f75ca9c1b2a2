"""``s2sxp serve``: a saved model behind an HTTP API and a page that shows its attention (the
``serve`` extra: pip install "s2sxp[serve]")."""
import argparse
import sys

from ..folder import load_model
from ..serve.protocol import Limits
from .flags import backend_flag, command, limit_flags, limits_of, run_flag, use_backend


def add_serve(sub):
    p = command(sub, "serve", serve, "serve a saved model over HTTP: a JSON API and a page",
                "Load a saved model once and serve it over HTTP until Ctrl-C or SIGTERM (which "
                "answers the requests in flight, then exits 0): POST /translate takes "
                "{\"text\": ...} or {\"texts\": [...]} with the options of s2sxp translate "
                "(beam, n_best, length_penalty, early_stop, max_length) and attention: true for "
                "the weights; GET /health, GET /info; GET / is a page that translates what is "
                "typed and draws the attention map. Requests that arrive together are "
                "translated together. One line is logged for each request. Needs the serve "
                "extra (Starlette, uvicorn).",
                "  s2sxp serve --run runs/ja-en/best.npz\n"
                "  s2sxp serve --run runs/ja-en/best.npz --host 0.0.0.0 --port 8080 --max-beam 8\n"
                "  curl -s localhost:8000/translate -d '{\"text\": \"今日は暑いですね。\", "
                "\"beam\": 5}'\n")
    run_flag(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (0.0.0.0: every interface) [default: "
                   "%(default)s]")
    p.add_argument("--port", type=port_number, default=8000,
                   help="the port to listen on (0: any free one) [default: %(default)s]")
    limit_flags(p, Limits, "limits")
    backend_flag(p)


def port_number(text):
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


def serve(args):
    try:
        from ..serve import app, server
    except ImportError as e:
        raise ValueError(f"serving needs the serve extra: pip install \"s2sxp[serve]\" ({e})"
                         ) from None
    limits = limits_of(args, Limits)
    device = use_backend(args)
    model, path = load_model(args.run)
    sock = server.listening(args.host, args.port)
    print(f"s2sxp serve: {path} ({model.kind}, {device}) on {server.url_of(sock)}",
          file=sys.stderr, flush=True)
    return server.serve(app.create_app(app.Service(model, path), limits), sock)
