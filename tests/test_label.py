"""`lumabench label`: the overrides file under concurrent writers, the page's API on a crafted
project, and the page itself in headless Chromium (play a clip, reject it with the keyboard, reload,
then `annotate` applies the decision)."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from local_server import serving
from lumabench import label
from lumabench.annotate import run as annotate
from lumabench.annotate.overrides import read_overrides
from lumabench.errors import InputError
from lumabench.label import store
from lumabench.label.app import create_app
from lumabench.label.items import DOUBT, segments
from lumabench.params import Params
from lumabench.paths import Paths
from test_annotate_stage import _params, build_project

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PLAYER_STATE = (
    "return {played: a.played.length, time: a.currentTime, paused: a.paused, ready: a.readyState,"
    " network: a.networkState, error: a.error && a.error.message, src: a.src}"
)


# ------------------------------------------------------------------ the overrides file
def test_a_new_decision_replaces_the_old_and_undo_puts_it_back(tmp_path: Path) -> None:
    f = tmp_path / "decisions.csv"
    f.write_text("item_id,decision,annotator,note,batch\nclip-1,accept,ana,,b1\n")  # hand-written, no modality
    first, prev = store.decide(f, "audio", "clip-1", "reject", "bo", "mumbled\nat the end")
    assert prev is not None and prev["annotator"] == "ana"  # the hand-written row decided it before
    second, prev2 = store.decide(f, "text", "horse-00001", "accept", "bo", "")
    rows, fields = store.read_rows(f)
    assert fields == [*store.COLUMNS, "batch"]  # the hand-added column survives
    assert [(r["item_id"], r["decision"], r["note"]) for r in rows] == [
        ("clip-1", "reject", "mumbled at the end"),  # one line: CSV readers differ on newlines in values
        ("horse-00001", "accept", ""),
    ]
    assert prev2 is None and first["decided_at"].endswith("+00:00")
    known = {"audio": {"clip-1"}, "text": {"horse-00001"}, "image": set()}
    got = read_overrides(f, known)  # what `annotate` reads
    assert not got[("audio", "clip-1")].accept and got[("audio", "clip-1")].annotator == "bo"
    assert got[("text", "horse-00001")].accept

    assert store.undo(f, first, prev)  # back to the hand-written accept
    assert store.current(store.read_rows(f)[0], "audio", "clip-1")["annotator"] == "ana"
    assert not store.undo(f, first, prev)  # no longer the deciding row: nothing changes
    assert store.undo(f, second, None)  # no earlier decision: the row goes
    assert [r["item_id"] for r in store.read_rows(f)[0]] == ["clip-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decisions.csv"]  # no temporaries left


def test_an_unusable_file_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("item,decision\nx,reject\n")
    with pytest.raises(InputError, match="'item_id' is missing"):
        store.decide(f, "audio", "x", "reject", "ana", "")
    assert f.read_text() == "item,decision\nx,reject\n"


def _writer(path: str, prefix: str, n: int) -> None:
    for k in range(n):
        store.decide(Path(path), "audio", f"{prefix}-{k}", "reject" if k % 2 else "accept", prefix, f"n{k}")
        store.decide(Path(path), "audio", f"shared-{k % 5}", "reject", prefix, "")


def test_two_processes_writing_at_once_lose_no_decision(tmp_path: Path) -> None:
    f = tmp_path / "decisions.csv"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(f), p, 40)) for p in ("ana", "bo")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    rows, _ = store.read_rows(f)
    keys = [r["item_id"] for r in rows]
    assert len(keys) == len(set(keys)) == 2 * 40 + 5  # every item once, the shared ones included
    assert {r["annotator"] for r in rows if r["item_id"].startswith("ana-")} == {"ana"}
    known = {"audio": set(keys), "text": set(), "image": set()}
    assert len(read_overrides(f, known)) == 85


# ------------------------------------------------------------------ a crafted project
@pytest.fixture
def project(tmp_path: Path, root: Path) -> tuple[Params, Paths]:
    """The annotate stage's crafted inputs (tests/test_annotate_stage.py), annotated once."""
    params = _params(root, f"annotate.overrides={tmp_path / 'annotations' / 'mini.csv'}")
    paths = build_project(tmp_path, params)
    annotate(params, paths)
    return params, paths


@pytest.fixture
def server(project: tuple[Params, Paths]) -> Iterator[tuple[str, label.Labelling]]:
    params, paths = project
    state = label.load_state(params, paths, annotator="tester")
    with serving(label.make_server(state, 0)) as srv:
        yield f"http://127.0.0.1:{srv.server_port}", state


def test_the_queue_starts_with_what_the_filters_rejected(project: tuple[Params, Paths]) -> None:
    params, paths = project
    state = label.load_state(params, paths)
    assert state.overrides.read_text() == ",".join(store.COLUMNS) + "\n"  # created for both front-ends
    verdicts = [i.verdict for i in state.items]
    assert verdicts == sorted(verdicts, key=lambda v: -DOUBT[v])
    rejected = {i.item_id: i.reason for i in state.items if i.verdict == "rejected"}
    assert set(rejected) == {"horse-90000", "horse-90001", "horse-90002", "horse-silent", "horse-long",
                             "horse-clipped", "mini-images/train/horse/copy", "mini-images/train/dog/near"}  # fmt: skip
    assert rejected["horse-silent"].startswith("silence: RMS")
    text = next(i for i in state.items if i.item_id == "horse-90002")
    parts = segments(text.details["text"], "horse")
    assert "".join(p["text"] for p in parts) == text.details["text"]
    assert [(p["text"], p["own"]) for p in parts if "label" in p] == [("dog", False)] * 3 + [("horse", True)]


def test_the_api_serves_media_and_writes_each_decision_at_once(project: tuple[Params, Paths]) -> None:
    params, paths = project
    state = label.load_state(params, paths, annotator="tester")
    client = create_app(state, hosts={"127.0.0.1:5000"}).test_client()
    base = {"base_url": "http://127.0.0.1:5000"}
    page = client.get("/", **base)
    assert page.status_code == 200 and b"label.js" in page.data
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert client.get("/", base_url="http://evil.example:5000").status_code == 403  # a rebound host name
    item = client.get("/api/item?modality=audio&item_id=horse-clipped", **base).get_json()
    assert item["verdict"] == "rejected" and item["reason"].startswith("clipping")
    wav = client.get(item["media"], **base)
    assert wav.data == (paths.root / "data/mini/interim/audio/clips/horse-clipped.wav").read_bytes()
    svg = client.get(item["waveform"], **base)
    assert svg.mimetype == "image/svg+xml" and b"<polygon" in svg.data
    img = client.get("/media/image?item_id=mini-images%2Ftrain%2Fhorse%2Fcopy", **base)
    assert img.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/media/audio?item_id=..%2F..%2Fparams", **base).status_code == 404

    body = {"modality": "audio", "item_id": "horse-clipped", "decision": "accept", "annotator": "ana", "note": "ok"}
    assert client.post("/api/decide", data=json.dumps(body), **base).status_code == 415  # not JSON: refused
    assert client.post("/api/decide", json={**body, "decision": "maybe"}, **base).status_code == 400
    assert client.post("/api/decide", json={**body, "item_id": "nope"}, **base).status_code == 404
    res = client.post("/api/decide", json=body, **base).get_json()
    assert res["previous"] is None
    rows, _ = store.read_rows(state.overrides)  # on disk before the answer
    assert [(r["item_id"], r["decision"], r["annotator"], r["note"]) for r in rows] == [
        ("horse-clipped", "accept", "ana", "ok")
    ]
    assert client.get("/api/decisions", **base).get_json()["audio:horse-clipped"]["decision"] == "accept"
    undone = client.post("/api/undo", json={"written": res["written"], "previous": None}, **base)
    assert undone.status_code == 200 and store.read_rows(state.overrides)[0] == []
    again = client.post("/api/undo", json={"written": res["written"], "previous": None}, **base)
    assert again.status_code == 409
    stats = client.get("/api/stats", **base).get_json()
    assert {(r["modality"], r["filter"]): r["rejected"] for r in stats["by_filter"]} == {
        ("audio", "clipping"): 1, ("audio", "duration"): 1, ("audio", "silence"): 1,
        ("image", "exact_duplicate"): 1, ("image", "near_duplicate"): 1,
        ("text", "length"): 1, ("text", "near_duplicate"): 1, ("text", "other_class"): 1,
    }  # fmt: skip


def _post(url: str, body: dict) -> int:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_two_clients_hammering_the_server_lose_nothing(server: tuple[str, label.Labelling]) -> None:
    url, state = server
    ids = sorted(i.item_id for i in state.items if i.modality == "text")[:60]
    codes: list[int] = []

    def client(name: str, mine: list[str]) -> None:
        for k, item in enumerate(mine):
            body = {"modality": "text", "item_id": item, "decision": "reject" if k % 3 else "accept",
                    "annotator": name, "note": f"{name} {k}"}  # fmt: skip
            codes.append(_post(f"{url}/api/decide", body))
            shared = {**body, "item_id": ids[0], "note": ""}  # both also fight over one item
            codes.append(_post(f"{url}/api/decide", shared))

    threads = [threading.Thread(target=client, args=(n, ids[i::2])) for i, n in enumerate(("ana", "bo"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert codes == [200] * 120
    known = {m: {i.item_id for i in state.items if i.modality == m} for m in ("image", "audio", "text")}
    got = read_overrides(state.overrides, known)
    assert set(got) == {("text", i) for i in ids}  # every decision, each item once
    assert got[("text", ids[1])].annotator == "bo" and got[("text", ids[1])].note == "bo 0"


# ------------------------------------------------------------------ the page in a real browser
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="Debian chromium and chromium-driver needed")
def test_the_page_plays_rejects_with_the_keyboard_and_annotate_applies_it(
    project: tuple[Params, Paths],
    server: tuple[str, label.Labelling],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    monkeypatch.setenv("SE_AVOID_STATS", "true")
    params, paths = project
    url, state = server
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900",
                f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    wait = WebDriverWait(driver, 30)
    try:
        driver.get(f"{url}/#modality=audio&verdict=passed")
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
        driver.execute_script("localStorage.setItem('lumabench-autoplay', 'off')")  # play with the keyboard
        driver.refresh()
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
        wait.until(lambda d: d.execute_script("return document.getElementById('player')?.readyState === 4"))
        key = driver.execute_script("return new URLSearchParams(location.hash.slice(1)).get('item')")
        assert key.startswith("audio:") and key.split(":", 1)[1] in {i.item_id for i in state.items}
        clip = key.split(":", 1)[1]
        # space plays the clip, and its time advances
        player = "const a = document.getElementById('player');"
        assert driver.execute_script(player + "return a.paused && a.played.length === 0")
        ActionChains(driver).send_keys(" ").perform()
        try:
            wait.until(lambda d: d.execute_script(player + "return a.played.length > 0 && a.currentTime > 0.05"))
        except TimeoutException:
            pytest.fail(f"the clip did not play: {driver.execute_script(player + PLAYER_STATE)}")
        assert driver.find_element(By.CSS_SELECTOR, ".wave img").get_property("naturalWidth") == 800

        ActionChains(driver).send_keys("r").perform()
        wait.until(lambda d: "rejected" in d.find_element(By.ID, "status").text)
        assert "saved" in driver.find_element(By.ID, "status").text
        rows, _ = store.read_rows(state.overrides)
        assert [(r["item_id"], r["modality"], r["decision"], r["annotator"]) for r in rows] == [
            (clip, "audio", "reject", "tester")
        ]

        driver.refresh()  # the decision comes back from the file, not from the page's memory
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
        Select(driver.find_element(By.ID, "f-decision")).select_by_value("reject")
        wait.until(lambda d: d.find_element(By.ID, "human").text == "rejected by tester")
        assert clip in driver.find_element(By.ID, "meta").text
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors  # no failed request, no script error
    finally:
        driver.quit()

    annotate(params, paths)
    report = {r["item_id"]: r for r in pq.read_table(paths.accepted / "report.parquet").to_pylist()}
    assert (report[clip]["filter"], report[clip]["decided_by"]) == ("human", "tester")
    accepted = set(pq.read_table(paths.accepted / "audio.parquet").column("clip_id").to_pylist())
    assert clip not in accepted


# ------------------------------------------------------------------ wiring
def test_each_profile_keeps_its_decisions_where_dvc_tracks_them(root: Path) -> None:
    import yaml

    from lumabench.params import load_params

    deps = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["annotate"]["deps"]
    assert "annotations/${profile}.csv" in deps  # DVC cannot read the overlay: the path follows the profile
    for profile in ("mini", "full"):
        where = load_params(root / "params.yaml", [f"profile={profile}"]).annotate.overrides
        assert where == f"annotations/{profile}.csv"
        assert (root / where).read_text().splitlines()[0] == ",".join(store.COLUMNS)  # present for both front-ends


def test_the_command_refuses_what_it_cannot_serve(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lumabench.cli import main

    params = str(root / "params.yaml")
    monkeypatch.chdir(tmp_path)  # an empty project: nothing annotated yet
    cases = [
        (["--set", "annotate.overrides=null"], "annotate.overrides is not set"),
        (["--set", "annotate.overrides=d.parquet"], "lumabench label writes CSV"),
        ([], "run `lumabench annotate` first"),
    ]
    for extra, message in cases:
        result = CliRunner().invoke(main, ["--params", params, *extra, "label"])
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1  # one line
