"""The translation service of ``s2sxp serve`` (the ``serve`` extra: Starlette and uvicorn): what
a request asks and is answered (protocol.py, without HTTP), requests translated together
(batcher.py), the HTTP application and its page (app.py, page.html) and the server that runs it
(server.py). Importing this package imports neither Starlette nor uvicorn."""
