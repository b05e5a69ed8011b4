"""Full-profile downloads against a local HTTP server: resume, verification, safe extraction, offline."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from local_server import serving
from lumabench import cli
from lumabench.corpora import full
from lumabench.corpora.archives import UnsafeArchiveError, safe_extract
from lumabench.corpora.downloads import Expected, apply_mirror, fetch
from lumabench.corpora.sources import Corpus, FileSource, registry
from lumabench.errors import DownloadError
from lumabench.params import FullCorpus, Params, load_params
from lumabench.paths import Paths

PUBLISHER = "https://publisher.example/data/"


# ---------------------------------------------------------------- local server
@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    fail_once: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            if self.path in state.fail_once:
                self.send_error(state.fail_once.pop(self.path))
                return
            start = 0
            if rng and not state.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if self.path in state.drop_once:
                state.drop_once.discard(self.path)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _handler(state)), poll_interval=0.05) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", state


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/"


# ---------------------------------------------------------------- fixtures: archives
def _payload(n: int, seed: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


CIFAR_MEMBERS = {
    "cifar-10-batches-py/data_batch_1": _payload(400_000, 1),
    "cifar-10-batches-py/test_batch": _payload(200_000, 2),
    "cifar-10-batches-py/batches.meta": b"meta",
}
CIFAR_TGZ = _tar(CIFAR_MEMBERS)
ESC_MEMBERS = {"ESC-50-x/audio/1-100032-A-0.wav": _payload(5000, 3), "ESC-50-x/meta/esc50.csv": b"filename\n"}
ESC_ZIP = _zip(ESC_MEMBERS)


def _fake_registry(corpora: dict[str, Corpus]):
    def make(subsets: object = None) -> dict[str, Corpus]:
        return corpora

    return make


def _cifar_corpus(data: bytes = CIFAR_TGZ) -> Corpus:
    src = FileSource(
        "cifar10",
        "cifar-10-python.tar.gz",
        PUBLISHER + "cifar-10-python.tar.gz",
        "test-licence",
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        creates="cifar-10-batches-py",
    )
    return Corpus("cifar10", PUBLISHER, (src,))


def _esc_corpus() -> Corpus:
    src = FileSource("esc50", "esc.zip", PUBLISHER + "esc.zip", "CC-BY-NC-3.0", creates="ESC-50-x")
    return Corpus("esc50", PUBLISHER, (src,))


def _cv_corpus() -> Corpus:
    src = FileSource(
        "common_voice",
        "cv-corpus-en.tar.gz",
        None,
        "CC0-1.0",
        manual="accept the terms at https://commonvoice.mozilla.org/en/datasets and download the archive",
        pattern="cv-corpus-*-en.tar*",
    )
    return Corpus("common_voice", "https://commonvoice.mozilla.org/en/datasets", (src,))


def _params(**full_cfg: object) -> Params:
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml", ["profile=full"])
    base = {"retries": 3, "timeout_s": 5, "backoff_s": 0.01}
    params.corpora.full = FullCorpus(**{**base, **full_cfg})
    return params


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path, "full")


def _serve(state: ServerState, name: str, data: bytes) -> None:
    state.files[f"/{name}"] = data


# ---------------------------------------------------------------- download behaviour
def test_dropped_connection_resumes_verifies_and_unpacks(server, paths, monkeypatch):
    base, state = server
    monkeypatch.setattr(full, "registry", _fake_registry({"cifar10": _cifar_corpus()}))
    _serve(state, "cifar-10-python.tar.gz", CIFAR_TGZ)
    state.drop_once.add("/cifar-10-python.tar.gz")

    full.build_full(_params(sources=["cifar10"], mirrors={PUBLISHER: base}), paths)

    gets = [r for r in state.requests if r[0] == "/cifar-10-python.tar.gz"]
    assert len(gets) == 2
    assert gets[0][1] is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", gets[1][1]).group(1))
    assert 0 < resumed_at < len(CIFAR_TGZ)
    archive = paths.raw / "cifar10" / "cifar-10-python.tar.gz"
    assert archive.read_bytes() == CIFAR_TGZ
    assert not archive.with_name(archive.name + ".part").exists()
    for name, data in CIFAR_MEMBERS.items():
        assert (paths.raw / "cifar10" / name).read_bytes() == data

    rows = {r["path"]: r for r in pq.read_table(paths.manifest).to_pylist()}
    arch = rows["data/full/raw/cifar10/cifar-10-python.tar.gz"]
    assert arch["kind"] == "archive" and arch["bytes"] == len(CIFAR_TGZ)
    assert arch["sha256"] == hashlib.sha256(CIFAR_TGZ).hexdigest()
    batch = rows["data/full/raw/cifar10/cifar-10-batches-py/data_batch_1"]
    assert (batch["kind"], batch["pool"], batch["licence"]) == ("image", "train", "test-licence")
    assert batch["sha256"] == hashlib.sha256(CIFAR_MEMBERS["cifar-10-batches-py/data_batch_1"]).hexdigest()
    assert rows["data/full/raw/cifar10/cifar-10-batches-py/test_batch"]["pool"] == "test"
    assert rows["data/full/raw/cifar10/cifar-10-batches-py/batches.meta"]["kind"] == "meta"
    assert len(rows) == 4
    assert not any("/.lumabench/" in p for p in rows)

    lock = json.loads((paths.root / "config" / "corpora.lock.json").read_text())
    assert lock["files"]["cifar10/cifar-10-python.tar.gz"]["sha256"] == hashlib.sha256(CIFAR_TGZ).hexdigest()


def test_server_error_is_retried_and_a_server_without_ranges_restarts(server, tmp_path):
    base, state = server
    state.files["/f.bin"] = CIFAR_TGZ
    state.fail_once["/f.bin"] = 503
    state.drop_once.add("/f.bin")
    state.ignore_range = True
    expected = Expected(size=len(CIFAR_TGZ), sha256=hashlib.sha256(CIFAR_TGZ).hexdigest())

    digest = fetch(base + "f.bin", tmp_path / "f.bin", expected, retries=3, timeout_s=5, backoff_s=0.01)

    assert digest.sha256 == expected.sha256
    assert (tmp_path / "f.bin").read_bytes() == CIFAR_TGZ
    assert len(state.requests) == 3  # 503, dropped half, full body from byte 0 (Range ignored)


def test_missing_url_is_final_without_retries(server, tmp_path):
    base, state = server
    with pytest.raises(DownloadError, match="answered HTTP 404"):
        fetch(base + "nope.bin", tmp_path / "nope.bin", Expected(), retries=3, timeout_s=5, backoff_s=0.01)
    assert len(state.requests) == 1
    assert not list(tmp_path.iterdir())


def test_second_run_makes_no_request_and_writes_nothing(server, paths, monkeypatch):
    base, state = server
    monkeypatch.setattr(full, "registry", _fake_registry({"cifar10": _cifar_corpus(), "esc50": _esc_corpus()}))
    _serve(state, "cifar-10-python.tar.gz", CIFAR_TGZ)
    _serve(state, "esc.zip", ESC_ZIP)
    params = _params(sources=["cifar10", "esc50"], mirrors={PUBLISHER: base})
    full.build_full(params, paths)
    assert len(state.requests) == 2
    snapshot = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in paths.root.rglob("*") if p.is_file()}

    state.requests.clear()
    full.build_full(params, paths)

    assert state.requests == []
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in paths.root.rglob("*") if p.is_file()}
    assert after == snapshot
    # a deleted lock file is written again from the verified files, still without a request
    lock_path = paths.root / "config" / "corpora.lock.json"
    lock = lock_path.read_bytes()
    lock_path.unlink()
    full.build_full(params, paths)
    assert state.requests == [] and lock_path.read_bytes() == lock
    noise = [r for r in pq.read_table(paths.manifest).to_pylist() if r["kind"] == "noise"]
    assert [r["path"] for r in noise] == ["data/full/raw/esc50/ESC-50-x/audio/1-100032-A-0.wav"]


def test_corrupted_download_is_rejected_and_leaves_nothing_complete(server, paths, monkeypatch):
    base, state = server
    monkeypatch.setattr(full, "registry", _fake_registry({"cifar10": _cifar_corpus()}))
    bad = bytearray(CIFAR_TGZ)
    bad[len(bad) // 2] ^= 0xFF
    _serve(state, "cifar-10-python.tar.gz", bytes(bad))

    with pytest.raises(DownloadError, match=r"failed verification.*md5") as info:
        full.build_full(_params(sources=["cifar10"], mirrors={PUBLISHER: base}), paths)

    assert "\n" not in str(info.value)
    folder = paths.raw / "cifar10"
    assert not (folder / "cifar-10-python.tar.gz").exists()
    assert not (folder / "cifar-10-python.tar.gz.part").exists()
    assert not (folder / "cifar-10-batches-py").exists()
    assert not paths.manifest.exists()


def test_checksum_recorded_at_first_download_is_enforced(server, paths, monkeypatch):
    base, state = server
    monkeypatch.setattr(full, "registry", _fake_registry({"esc50": _esc_corpus()}))
    _serve(state, "esc.zip", ESC_ZIP)
    params = _params(sources=["esc50"], mirrors={PUBLISHER: base})
    full.build_full(params, paths)
    lock = json.loads((paths.root / "config" / "corpora.lock.json").read_text())
    assert lock["files"]["esc50/esc.zip"] == {
        "bytes": len(ESC_ZIP),
        "filename": "esc.zip",
        "sha256": hashlib.sha256(ESC_ZIP).hexdigest(),
        "url": PUBLISHER + "esc.zip",
    }

    (paths.raw / "esc50" / "esc.zip").unlink()
    changed = _zip({**ESC_MEMBERS, "ESC-50-x/meta/esc50.csv": b"changed\n"})
    _serve(state, "esc.zip", changed)
    with pytest.raises(DownloadError, match="failed verification"):
        full.build_full(params, paths)
    assert not (paths.raw / "esc50" / "esc.zip").exists()


def test_offline_gives_one_line_listing_every_missing_file(paths, monkeypatch):
    monkeypatch.setattr(
        full,
        "registry",
        _fake_registry({"cifar10": _cifar_corpus(), "esc50": _esc_corpus(), "common_voice": _cv_corpus()}),
    )
    params = _params(sources=["cifar10", "esc50", "common_voice"], mirrors={PUBLISHER: _closed_port_url()})

    with pytest.raises(DownloadError) as info:
        full.build_full(params, paths)

    line = info.value.one_line()
    assert "\n" not in line
    assert "3 corpus file(s) missing" in line
    assert "cannot reach" in line
    assert PUBLISHER + "cifar-10-python.tar.gz" in line
    assert PUBLISHER + "esc.zip" in line
    assert "commonvoice.mozilla.org" in line
    assert "--from FOLDER" in line
    assert not any(p.is_file() and p.suffix != ".part" for p in paths.raw.rglob("*"))


def test_import_from_folder_needs_no_network(tmp_path, paths, monkeypatch):
    monkeypatch.setattr(full, "registry", _fake_registry({"cifar10": _cifar_corpus(), "common_voice": _cv_corpus()}))
    folder = tmp_path / "by-hand"
    (folder / "cifar10").mkdir(parents=True)
    (folder / "cifar10" / "cifar-10-python.tar.gz").write_bytes(CIFAR_TGZ)
    cv = _tar({"cv-corpus-17.0-en/en/clips/a.mp3": b"mp3", "cv-corpus-17.0-en/en/train.tsv": b"path\n"})
    (folder / "cv-corpus-17.0-en.tar.gz").write_bytes(cv)
    params = _params(
        sources=["cifar10", "common_voice"], mirrors={PUBLISHER: _closed_port_url()}, import_from=str(folder)
    )

    full.build_full(params, paths)

    assert (paths.raw / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()
    assert (paths.raw / "common_voice" / "cv-corpus-17.0-en" / "en" / "clips" / "a.mp3").read_bytes() == b"mp3"
    lock = json.loads((paths.root / "config" / "corpora.lock.json").read_text())
    assert lock["files"]["common_voice/cv-corpus-en.tar.gz"]["filename"] == "cv-corpus-17.0-en.tar.gz"
    kinds = {r["path"].rsplit("/", 1)[-1]: r["kind"] for r in pq.read_table(paths.manifest).to_pylist()}
    assert kinds["a.mp3"] == "speech" and kinds["cv-corpus-17.0-en.tar.gz"] == "archive"

    # without --from, the imported manual archive is found again through the lock file
    full.build_full(_params(sources=["cifar10", "common_voice"], mirrors={PUBLISHER: _closed_port_url()}), paths)


def test_manual_source_without_import_says_how(paths, monkeypatch):
    monkeypatch.setattr(full, "registry", _fake_registry({"common_voice": _cv_corpus()}))
    with pytest.raises(DownloadError, match=r"common_voice/cv-corpus-en\.tar\.gz <- accept the terms"):
        full.build_full(_params(sources=["common_voice"]), paths)


# ---------------------------------------------------------------- hostile archives
def _tar_with(info: tarfile.TarInfo, data: bytes = b"") -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ok = tarfile.TarInfo("top/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        info.size = len(data) if info.isreg() else 0
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("/etc/evil"), "absolute path"),
        (_member("top/../../evil"), r"'\.\.'"),
        (_member("top/link", tarfile.SYMTYPE, "../../outside"), "symbolic link"),
        (_member("top/link", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link to absolute"),
        (_member("top/hard", tarfile.LNKTYPE, "../outside"), "hard link"),
        (_member("top/dev", tarfile.CHRTYPE), "device"),
    ],
)
def test_hostile_tar_member_is_refused(tmp_path, member, reason):
    archive = tmp_path / "bad.tar"
    archive.write_bytes(_tar_with(member, b"evil" if member.isreg() else b""))
    root = tmp_path / "out" / "x"
    with pytest.raises(UnsafeArchiveError, match=reason) as info:
        safe_extract(archive, root)
    assert "bad.tar" in str(info.value)
    assert not root.exists()
    assert not (tmp_path / "outside").exists() and not (tmp_path / "evil").exists()


def test_hostile_zip_member_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(_zip({"top/ok.txt": b"ok", "../evil.txt": b"evil"}))
    with pytest.raises(UnsafeArchiveError, match="leaves the extraction folder"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_inside_links_are_kept(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = tarfile.TarInfo("top/a.txt")
        data.size = 3
        tar.addfile(data, io.BytesIO(b"abc"))
        tar.addfile(_member("top/sub/link", tarfile.SYMTYPE, "../a.txt"))
        tar.addfile(_member("top/copy", tarfile.LNKTYPE, "top/a.txt"))
    (tmp_path / "ok.tar").write_bytes(buf.getvalue())
    files = safe_extract(tmp_path / "ok.tar", tmp_path / "out")
    assert [f.path for f in files] == ["top/a.txt", "top/copy"]
    assert (tmp_path / "out" / "top" / "sub" / "link").read_bytes() == b"abc"


def test_hostile_archive_through_the_stage_installs_nothing(server, paths, monkeypatch):
    base, state = server
    bad = _tar_with(_member("cifar-10-batches-py/../../../evil"), b"evil")
    monkeypatch.setattr(full, "registry", _fake_registry({"cifar10": _cifar_corpus(bad)}))
    _serve(state, "cifar-10-python.tar.gz", bad)
    with pytest.raises(UnsafeArchiveError, match="refused archive member"):
        full.build_full(_params(sources=["cifar10"], mirrors={PUBLISHER: base}), paths)
    assert not (paths.raw / "cifar10" / "top").exists()
    assert not list(paths.root.rglob("evil"))
    assert not paths.manifest.exists()


# ---------------------------------------------------------------- registry, mirrors, CLI
def test_registry_pins_published_checksums_and_publisher_urls():
    reg = registry(["dev-clean", "test-clean"])
    cifar10, cifar100 = reg["cifar10"].files[0], reg["cifar100"].files[0]
    assert cifar10.md5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar100.md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert reg["luma"].hub.repo_id == "bezirganyan/LUMA"
    assert re.search(r"/archive/[0-9a-f]{40}\.zip$", reg["esc50"].files[0].url)
    names = [f.filename for f in reg["librispeech"].files]
    assert names == ["dev-clean.tar.gz", "test-clean.tar.gz", "librispeech_alignments.zip"]
    assert reg["common_voice"].files[0].url is None
    for corpus in reg.values():
        for src in corpus.files:
            assert src.url is None or src.url.startswith("https://")


def test_mirror_rewrites_the_longest_prefix():
    mirrors = {"https://a.example/": "http://m/", "https://a.example/deep/": "http://n/"}
    assert apply_mirror("https://a.example/deep/x.tar", mirrors) == "http://n/x.tar"
    assert apply_mirror("https://a.example/x.tar", mirrors) == "http://m/x.tar"
    assert apply_mirror("https://b.example/x.tar", mirrors) == "https://b.example/x.tar"


def test_cli_from_option_sets_the_import_folder(tmp_path, monkeypatch, root):
    seen: dict[str, object] = {}

    def fake_run_stage(obj: cli.Context, stage: object) -> None:
        seen["import_from"] = obj.params().corpora.full.import_from

    monkeypatch.setattr(cli, "run_stage", fake_run_stage)
    folder = tmp_path / "123"
    folder.mkdir()
    result = CliRunner().invoke(cli.main, ["--params", str(root / "params.yaml"), "corpora", "--from", str(folder)])
    assert result.exit_code == 0, result.output
    assert seen["import_from"] == str(folder.resolve())


def test_aligner_weights_land_where_the_ctc_aligner_reads_them(server, paths):
    from lumabench.audio.align_ctc import weights_file
    from lumabench.corpora.sources import ALIGNER_WEIGHTS

    base, state = server
    weights = _payload(50_000, 7)
    _serve(state, ALIGNER_WEIGHTS, weights)
    mirror = {"https://download.pytorch.org/torchaudio/models/": base}
    full.build_full(_params(sources=["aligner"], mirrors=mirror), paths)

    expected = weights_file("WAV2VEC2_ASR_BASE_960H", paths.raw / "aligner")
    assert expected == paths.raw / "aligner" / ALIGNER_WEIGHTS and expected.read_bytes() == weights
    rows = pq.read_table(paths.manifest).to_pylist()
    assert [(r["corpus"], r["kind"], r["sha256"]) for r in rows] == [
        ("aligner", "model", hashlib.sha256(weights).hexdigest())
    ]


def test_librispeech_rows_carry_transcript_and_speaker(server, paths, monkeypatch):
    base, state = server
    members = {
        "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt": b"84-121123-0000 A HORSE AND A DOG\n"
        b"84-121123-0001 THE CATHEDRAL\n",
        "LibriSpeech/dev-clean/84/121123/84-121123-0000.flac": _payload(3000, 8),
        "LibriSpeech/dev-clean/84/121123/84-121123-0001.flac": _payload(3000, 9),
    }
    data = _tar(members)
    src = FileSource(
        "librispeech", "dev-clean.tar.gz", PUBLISHER + "dev-clean.tar.gz", "CC-BY-4.0", creates="LibriSpeech"
    )
    monkeypatch.setattr(full, "registry", _fake_registry({"librispeech": Corpus("librispeech", PUBLISHER, (src,))}))
    _serve(state, "dev-clean.tar.gz", data)
    full.build_full(_params(sources=["librispeech"], mirrors={PUBLISHER: base}), paths)

    rows = {PurePosixPath(r["path"]).name: r for r in pq.read_table(paths.manifest).to_pylist()}
    first, second = rows["84-121123-0000.flac"], rows["84-121123-0001.flac"]
    assert (first["kind"], first["transcript"], first["speaker"]) == ("speech", "a horse and a dog", "librispeech:84")
    assert second["transcript"] == "the cathedral"
    assert rows["84-121123.trans.txt"]["transcript"] is None
