"""Running the translation service under uvicorn: its socket bound and listening before uvicorn
starts (a port in use is a one-line error, and clients that come early wait in its backlog),
the access log on standard error, and SIGTERM answered as a service manager expects: the
requests in flight answered, then exit 0.
"""
import logging
import signal
import socket
import sys

import uvicorn

from .app import ACCESS


def listening(host, port):
    """A socket bound to ``host`` and ``port`` (0: a free one) and listening, so that clients
    wait in its backlog until the server accepts them; OSError where it cannot be had."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        if sock is not None:
            sock.close()
        raise OSError(f"cannot listen on {host} port {port}: {e.strerror or e}") from None
    return sock


def url_of(sock):
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def serve(app, sock, log=sys.stderr):
    """Serve ``app`` on the listening socket ``sock`` until SIGTERM (exit status 0, every
    request in flight answered first) or Ctrl-C (KeyboardInterrupt, after the same)."""
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(message)s"))
    ACCESS.addHandler(handler)
    ACCESS.setLevel(logging.INFO)
    ACCESS.propagate = False
    config = uvicorn.Config(app, access_log=False, log_level="info", lifespan="on")
    # uvicorn raises a signal it caught once more after its graceful shutdown, for the handler it
    # found; SIGTERM's is then this one, and the process exits 0 as a stopped service does
    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        ACCESS.removeHandler(handler)
    return 0


def stopped(signum, frame):
    """SIGTERM, once the server has shut down: nothing left to do."""
