"""`lumabench label`: a local web page to accept or reject the annotate stage's items by hand.

A tool, not a pipeline stage: it reads the stage's inputs and verdicts and writes every decision at
once to the overrides file (`annotate.overrides`), which `lumabench annotate` applies and both
front-ends declare as an input of annotate (docs/labelling.md). The server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import getpass
import logging
import os
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

from lumabench.errors import InputError, MissingDependencyError
from lumabench.io import read_parquet
from lumabench.label import store
from lumabench.params import Params
from lumabench.paths import Paths
from lumabench.schemas import VERDICTS

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

    from lumabench.label.app import Labelling

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def overrides_path(params: Params, paths: Paths) -> Path:
    """The CSV the page writes: `annotate.overrides` (relative to the project root, or absolute)."""
    where = params.annotate.overrides
    if not where:
        raise InputError(
            "annotate.overrides is not set, so decisions would go nowhere",
            "params.yaml",
            f"set annotate.overrides: annotations/{params.profile}.csv",
        )
    path = Path(where) if Path(where).is_absolute() else paths.root / where
    if path.suffix.lower() != ".csv":
        fix = f"set annotate.overrides: annotations/{params.profile}.csv"
        raise InputError("lumabench label writes CSV", path, fix)
    return path


def default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "") or "annotator"


def load_state(params: Params, paths: Paths, annotator: str | None = None) -> Labelling:
    """The items, their verdicts and the overrides file (created with its header if missing)."""
    from lumabench.label.app import Labelling
    from lumabench.label.items import FIX, load_items

    overrides = overrides_path(params, paths)
    items = load_items(paths)
    verdicts = read_parquet(paths.accepted / "verdicts.parquet", VERDICTS, FIX).to_pylist()
    store.ensure(overrides)
    return Labelling(items, overrides, annotator or default_annotator(), verdicts)


def make_server(state: Labelling, port: int = 0) -> BaseWSGIServer:
    """A threaded server for the page on 127.0.0.1:`port` (0: a free port), not yet serving."""
    from werkzeug.serving import make_server as werkzeug_server

    from lumabench.label.app import create_app

    server = werkzeug_server(HOST, port, None, threaded=True)  # type: ignore[arg-type]
    actual = server.server_port
    server.app = create_app(state, hosts={f"{HOST}:{actual}", f"localhost:{actual}"})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    return server


def serve(params: Params, paths: Paths, port: int = 0, annotator: str | None = None, open_page: bool = False) -> None:
    """Serve the page until Ctrl-C or SIGTERM; every decision is on disk before the page hears back."""
    try:
        import flask  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("flask is not installed", fix="pip install -e '.[label]'") from exc
    state = load_state(params, paths, annotator)
    server = make_server(state, port)
    url = f"http://{HOST}:{server.server_port}/"
    n_doubt = sum(i.verdict in {"rejected", "doubtful"} for i in state.items)
    log.info("%d items (%d rejected or doubtful, shown first); decisions go to %s", len(state.items), n_doubt,
             state.overrides)  # fmt: skip
    log.info("labelling page: %s (Ctrl-C to stop)", url)
    if open_page:
        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
