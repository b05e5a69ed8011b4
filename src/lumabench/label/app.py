"""The labelling page's web application (Flask): the page, its JSON API and the media it plays.

Every request is checked to come for the address the server listens on (a page elsewhere cannot
reach it through a rebound host name), every write needs a JSON body (a plain cross-site form
cannot send one), and the page may load nothing but this server's own files (Content-Security-Policy).
Media are looked up by item id in the loaded items, never by a path the browser sends.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, abort, jsonify, request, send_file

from lumabench.annotate.rates import by_filter, by_voice
from lumabench.label import store
from lumabench.label.items import Item, segments
from lumabench.label.waveform import svg

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
MEDIA_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".png": "image/png", ".jpg": "image/jpeg"}


@dataclass
class Labelling:
    """What the application serves: the items, the overrides file, the annotator's default name."""

    items: list[Item]
    overrides: Path
    annotator: str
    verdicts: list[dict] = field(default_factory=list)  # VERDICTS rows, for the rejection rates
    by_key: dict[str, Item] = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {i.key: i for i in self.items}

    def modality_of(self, item_id: str) -> str | None:
        """The modality of a row that does not name one (hand-written files): the only one with the id."""
        found = [m for m in ("image", "audio", "text") if f"{m}:{item_id}" in self.by_key]
        return found[0] if len(found) == 1 else None

    def decisions(self) -> dict[str, dict]:
        """Item key -> the row deciding it, as the overrides file holds it now."""
        rows, _ = store.read_rows(self.overrides)
        out = {}
        for r in rows:
            modality = r.get("modality") or self.modality_of(r.get("item_id", ""))
            if modality:
                out[f"{modality}:{r['item_id']}"] = {**r, "modality": modality}
        return out


def _item(state: Labelling, modality: str, item_id: str) -> Item:
    item = state.by_key.get(f"{modality}:{item_id}")
    if item is None:
        abort(404, description=f"no {modality} item {item_id!r}")
    return item


def _body(fields: Collection[str]) -> dict[str, Any]:
    if not request.is_json:
        abort(415, description="send JSON (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or any(not isinstance(data.get(f), str) for f in fields):
        abort(400, description=f"expected a JSON object with string fields {', '.join(fields)}")
    return data


def create_app(state: Labelling, hosts: Collection[str] = ()) -> Flask:
    """The Flask application over `state`; `hosts` are the Host headers to answer (empty: any)."""
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def _only_this_server() -> None:
        if hosts and request.host not in hosts:
            abort(403, description="this server answers only on its own address")

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(409)
    @app.errorhandler(415)
    def _error(err: Any) -> tuple[Response, int]:
        return jsonify(error=getattr(err, "description", str(err))), err.code

    @app.get("/")
    def index() -> Response:
        return app.send_static_file("index.html")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @app.get("/api/config")
    def config() -> Response:
        return jsonify(annotator=state.annotator, overrides=str(state.overrides), items=len(state.items))

    @app.get("/api/items")
    def items() -> Response:
        return jsonify([i.summary() for i in state.items])

    @app.get("/api/decisions")
    def decisions() -> Response:
        return jsonify(state.decisions())

    @app.get("/api/item")
    def item() -> Response:
        it = _item(state, request.args.get("modality", ""), request.args.get("item_id", ""))
        out = {**it.summary(), "reason": it.reason, "heard": it.heard, **it.details}
        if it.modality == "text":
            out["segments"] = segments(it.details["text"], it.label)
        else:
            out["media"] = f"/media/{it.modality}?item_id={_quote(it.item_id)}"
        if it.modality == "audio":
            out["waveform"] = f"/media/waveform?item_id={_quote(it.item_id)}"
        out["decision"] = state.decisions().get(it.key)
        return jsonify(out)

    @app.get("/api/stats")
    def stats() -> Response:
        return jsonify(by_filter=by_filter(state.verdicts), by_voice=by_voice(state.verdicts))

    @app.post("/api/decide")
    def decide() -> Response:
        data = _body(("modality", "item_id", "decision", "annotator"))
        it = _item(state, data["modality"], data["item_id"])
        if data["decision"] not in store.DECISIONS:
            abort(400, description="decision must be accept or reject")
        note = data.get("note") if isinstance(data.get("note"), str) else ""
        written, previous = store.decide(state.overrides, it.modality, it.item_id, data["decision"],
                                         data["annotator"], note)  # fmt: skip
        return jsonify(written=written, previous=previous)

    @app.post("/api/undo")
    def undo() -> Response:
        data = request.get_json(silent=True) if request.is_json else None
        if not isinstance(data, dict) or not isinstance(data.get("written"), dict):
            abort(400 if request.is_json else 415, description="send JSON {written, previous}")
        written = {c: str(data["written"].get(c, "")) for c in store.COLUMNS}
        prev = data.get("previous")
        previous = {str(k): str(v) for k, v in prev.items()} if isinstance(prev, dict) else None
        it = _item(state, written["modality"], written["item_id"])
        if not store.undo(state.overrides, written, previous):
            abort(409, description=f"{it.item_id} was decided again since; nothing undone")
        return jsonify(ok=True, decision=state.decisions().get(it.key))

    @app.get("/media/<modality>")
    def media(modality: str) -> Response:
        it = _item(state, modality, request.args.get("item_id", ""))
        if it.path is None:
            abort(404, description="a text has no media file")
        return send_file(it.path, mimetype=MEDIA_TYPES.get(it.path.suffix.lower()), conditional=True, max_age=3600)

    @app.get("/media/waveform")
    def waveform() -> Response:
        it = _item(state, "audio", request.args.get("item_id", ""))
        resp = Response(svg(it.path), mimetype="image/svg+xml")  # type: ignore[arg-type]
        resp.headers["Cache-Control"] = "max-age=3600"
        return resp

    return app


def _quote(item_id: str) -> str:
    return quote(item_id, safe="")
