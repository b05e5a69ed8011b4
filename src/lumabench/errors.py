"""One error family: every expected failure says what went wrong, where, and how to fix it."""

from __future__ import annotations

from pathlib import Path


class LumabenchError(Exception):
    """Base of every error the CLI turns into one line and a non-zero exit."""

    exit_code = 1

    def __init__(self, what: str, path: str | Path | None = None, fix: str | None = None) -> None:
        self.what = what
        self.path = None if path is None else str(path)
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [self.what]
        if self.path:
            parts.append(f"file: {self.path}")
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return "; ".join(parts)


class ParamsError(LumabenchError):
    """params.yaml (or an override) is invalid."""


class InputError(LumabenchError):
    """A stage input is missing, unreadable or does not match its schema."""


class MissingDependencyError(LumabenchError):
    """A system package, font, engine or model the stage needs is not installed."""


class DownloadError(LumabenchError):
    """A corpus or model could not be fetched or failed verification."""


class NotBuiltError(LumabenchError):
    """The stage exists in the contract but its logic is not built yet."""

    exit_code = 2


class TrainingError(LumabenchError):
    """Training diverged (a non-finite loss): the weights are not usable."""
