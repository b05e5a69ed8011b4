"""The one place that talks to the Hugging Face hub (huggingface_hub), so tests can stand in for it.

`resolve_revision` turns a branch or tag into the full commit id that gets pinned in the lock file;
`download_snapshot` fetches the files of one commit that match the source's patterns into a
staging folder (huggingface_hub resumes interrupted files there and shows its own byte progress).
Every failure becomes a DownloadError: NetworkDown when the hub could not be reached.
"""

from __future__ import annotations

import re
from pathlib import Path

from lumabench.corpora.downloads import NetworkDown
from lumabench.corpora.sources import HubSource
from lumabench.errors import DownloadError

COMMIT = re.compile(r"[0-9a-f]{40}")
# Errors that are an answer from the hub (so the network works): retrying will not help.
_FINAL = ("RepositoryNotFoundError", "RevisionNotFoundError", "GatedRepoError", "DisabledRepoError")


def _translate(exc: Exception, src: HubSource, revision: str) -> DownloadError:
    where = f"{src.web_url} at {revision}"
    if type(exc).__name__ in _FINAL:
        return DownloadError(
            f"the hub refused {where} ({type(exc).__name__})", None, "check the repository and revision in sources.py"
        )
    return NetworkDown(f"cannot fetch {where} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")


def resolve_revision(src: HubSource, revision: str) -> str:
    """The full commit id of `revision` (a branch, tag or commit id) in the source's repository."""
    if COMMIT.fullmatch(revision):
        return revision
    import huggingface_hub

    try:
        info = huggingface_hub.HfApi().dataset_info(src.repo_id, revision=revision)
    except Exception as exc:  # the hub client raises many types (HTTP, transport, validation)
        raise _translate(exc, src, revision) from exc
    sha = getattr(info, "sha", None)
    if not isinstance(sha, str) or not COMMIT.fullmatch(sha):
        raise DownloadError(f"the hub gave no commit id for {src.web_url} at {revision}")
    return sha


def download_snapshot(src: HubSource, commit: str, local_dir: Path) -> None:
    """Fetch the files matching `src.allow_patterns` at `commit` into `local_dir`."""
    if not COMMIT.fullmatch(commit):
        raise DownloadError(f"hub revision {commit!r} is not a full commit id", None, "this is a bug")
    import huggingface_hub

    local_dir.mkdir(parents=True, exist_ok=True)
    try:
        huggingface_hub.snapshot_download(
            src.repo_id,
            repo_type=src.repo_type,
            revision=commit,
            local_dir=local_dir,
            allow_patterns=list(src.allow_patterns),
        )
    except Exception as exc:  # the hub client raises many types (HTTP, transport, validation)
        raise _translate(exc, src, commit) from exc
