"""The LUMA hub snapshot at its boundary: huggingface_hub replaced by a copy from a local folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pyarrow.parquet as pq
import pytest

from lumabench.corpora import full
from lumabench.corpora.sources import Corpus, registry
from lumabench.errors import DownloadError
from lumabench.params import FullCorpus, Params, load_params
from lumabench.paths import Paths

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A stand-in for the hub repository: the files the registry asks for, plus one it must not."""
    repo = tmp_path / "hub-repo"
    (repo / "audio" / "cv_audio").mkdir(parents=True)
    (repo / "audio" / "ls_audio").mkdir(parents=True)
    (repo / "audio" / "cv_audio" / "a1.wav").write_bytes(b"RIFF-a1")
    (repo / "audio" / "ls_audio" / "b2.wav").write_bytes(b"RIFF-b2")
    (repo / "audio" / "datalist.csv").write_text(
        "path,label,tts_label\ncv_audio/a1.wav,horse,horse\naudio/ls_audio/b2.wav,lion,line\n"
    )
    (repo / "text_data.tsv").write_text("text\tlabel\nA horse runs.\thorse\n")
    (repo / "edm_images.pickle").write_bytes(b"pickle-bytes")
    (repo / "README.md").write_text("card\n")
    (repo / "unrelated.bin").write_bytes(b"not requested")
    return repo


class FakeHub:
    """Records every call; copies the files matching allow_patterns, like snapshot_download does."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.info_calls: list[tuple[str, str | None]] = []
        self.snapshot_calls: list[dict[str, object]] = []
        self.fail: Exception | None = None

    def dataset_info(self, api: object, repo_id: str, *, revision: str | None = None, **kw: object) -> object:
        self.info_calls.append((repo_id, revision))
        if self.fail is not None:
            raise self.fail
        return SimpleNamespace(sha=COMMIT)

    def snapshot_download(self, repo_id: str, **kw: object) -> str:
        self.snapshot_calls.append({"repo_id": repo_id, **kw})
        if self.fail is not None:
            raise self.fail
        local = Path(kw["local_dir"])
        patterns = kw["allow_patterns"]
        for path in self.repo.rglob("*"):
            rel = path.relative_to(self.repo).as_posix()
            if path.is_file() and full._wanted(rel, tuple(patterns)):
                (local / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, local / rel)
        (local / ".cache" / "huggingface").mkdir(parents=True, exist_ok=True)
        (local / ".cache" / "huggingface" / "state.json").write_text("{}")
        return str(local)


@pytest.fixture
def fake(published: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    hub = FakeHub(published)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda api, *a, **k: hub.dataset_info(api, *a, **k))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    return hub


def _params(**cfg: object) -> Params:
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml", ["profile=full"])
    params.corpora.full = FullCorpus(**{"sources": ["luma"], "retries": 0, "backoff_s": 0.0, **cfg})
    return params


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "project", "full")


def _lock(paths: Paths) -> dict:
    return json.loads((paths.root / "config" / "corpora.lock.json").read_text())


def test_hub_snapshot_is_pinned_requested_narrowly_and_installed(fake, paths):
    full.build_full(_params(), paths)

    src = registry()["luma"].hub
    assert fake.info_calls == [("bezirganyan/LUMA", "main")]
    [call] = fake.snapshot_calls
    assert call["repo_id"] == "bezirganyan/LUMA"
    assert call["repo_type"] == "dataset"
    assert call["revision"] == COMMIT
    assert call["allow_patterns"] == list(src.allow_patterns)

    release = paths.raw / "luma" / "release"
    assert (release / "audio" / "cv_audio" / "a1.wav").read_bytes() == b"RIFF-a1"
    assert (release / "edm_images.pickle").is_file()
    assert not (release / "unrelated.bin").exists()
    assert not (release / ".cache").exists()

    entry = _lock(paths)["hub"]["luma/bezirganyan/LUMA"]
    assert entry["revision"] == COMMIT and entry["files"] == 6 and len(entry["tree_sha256"]) == 64

    rows = {r["path"].removeprefix("data/full/raw/luma/release/"): r for r in pq.read_table(paths.manifest).to_pylist()}
    assert set(rows) == {
        "README.md", "audio/cv_audio/a1.wav", "audio/datalist.csv", "audio/ls_audio/b2.wav", "edm_images.pickle",
        "text_data.tsv",
    }  # fmt: skip
    assert (rows["audio/cv_audio/a1.wav"]["kind"], rows["audio/cv_audio/a1.wav"]["label"]) == ("speech", "horse")
    assert rows["audio/ls_audio/b2.wav"]["label"] == "lion"
    assert (rows["edm_images.pickle"]["kind"], rows["edm_images.pickle"]["pool"]) == ("image", "train")
    assert rows["edm_images.pickle"]["licence"] == "Apache-2.0"
    assert rows["text_data.tsv"]["kind"] == "text" and rows["text_data.tsv"]["licence"] == "CC-BY-SA-4.0"


def test_hub_second_run_calls_nothing_and_later_runs_reuse_the_locked_commit(fake, paths):
    full.build_full(_params(), paths)
    fake.info_calls.clear()
    fake.snapshot_calls.clear()

    full.build_full(_params(), paths)
    assert fake.info_calls == [] and fake.snapshot_calls == []

    lock_path = paths.root / "config" / "corpora.lock.json"
    lock = lock_path.read_bytes()
    lock_path.unlink()
    full.build_full(_params(), paths)
    assert fake.info_calls == [] and fake.snapshot_calls == [] and lock_path.read_bytes() == lock

    (paths.raw / "luma" / "release" / "text_data.tsv").unlink()
    full.build_full(_params(), paths)
    assert fake.info_calls == []  # the lock's commit is used, the branch is not resolved again
    assert [c["revision"] for c in fake.snapshot_calls] == [COMMIT]
    assert (paths.raw / "luma" / "release" / "text_data.tsv").is_file()


def test_hub_content_that_differs_from_the_lock_is_rejected(fake, paths, published):
    full.build_full(_params(), paths)
    shutil.rmtree(paths.raw / "luma" / "release")
    (published / "text_data.tsv").write_text("text\tlabel\nSomething else.\thorse\n")

    with pytest.raises(DownloadError, match="does not match the lock file"):
        full.build_full(_params(), paths)
    assert not (paths.raw / "luma" / "release").exists()
    assert not (paths.raw / "luma" / ".lumabench" / "hub-staging").exists()


def test_hub_offline_is_one_line_with_the_repository_and_from(fake, paths):
    fake.fail = ConnectionError("network is unreachable")
    with pytest.raises(DownloadError) as info:
        full.build_full(_params(), paths)
    line = info.value.one_line()
    assert "\n" not in line
    assert "https://huggingface.co/datasets/bezirganyan/LUMA at main" in line
    assert "FOLDER/luma" in line and "--from" in line


def test_hub_refusal_is_final_not_offline(fake, paths):
    fake.fail = type("RepositoryNotFoundError", (Exception,), {})("gone")
    with pytest.raises(DownloadError, match="the hub refused"):
        full.build_full(_params(), paths)


def test_hub_clone_imported_from_folder(fake, paths, published, tmp_path):
    folder = tmp_path / "by-hand"
    shutil.copytree(published, folder / "LUMA")
    (folder / "LUMA" / ".git").mkdir()
    (folder / "LUMA" / ".git" / "HEAD").write_text("ref\n")
    fake.fail = ConnectionError("offline")

    full.build_full(_params(import_from=str(folder)), paths)

    assert fake.snapshot_calls == []
    release = paths.raw / "luma" / "release"
    assert (release / "audio" / "ls_audio" / "b2.wav").is_file()
    assert not (release / ".git").exists() and not (release / "unrelated.bin").exists()


def test_hub_and_http_sources_share_one_missing_list(fake, paths, monkeypatch):
    corpora = registry()
    monkeypatch.setattr(full, "registry", lambda subsets=None: {"luma": corpora["luma"], "cifar10": corpora["cifar10"]})
    fake.fail = ConnectionError("offline")
    sock_url = "http://127.0.0.1:9/"  # discard port: nothing listens there
    params = _params(sources=["cifar10", "luma"], mirrors={"https://www.cs.toronto.edu/~kriz/": sock_url})
    with pytest.raises(DownloadError, match=r"2 corpus file\(s\) missing") as info:
        full.build_full(params, paths)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in str(info.value)
    assert fake.snapshot_calls == []  # once the network is known to be down, nothing else is tried
    assert isinstance(corpora["luma"], Corpus)
