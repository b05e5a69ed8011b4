"""The items the labelling page shows: every image, clip and text the annotate stage judged.

Items come from the stage's inputs (manifest, clips, texts) joined with its verdicts
(`interim/accepted/verdicts.parquet`: automatic verdict, reason, what the recogniser heard). The
queue puts the most doubtful first: items a filter rejected, then clips heard as another class word
that the likelihood-ratio threshold let through, then items the last annotate run did not see, then
the rest (clips by rising alignment score).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from lumabench.annotate import image_rows
from lumabench.annotate.text_filters import WORD
from lumabench.classes import by_form
from lumabench.io import read_parquet
from lumabench.params import MODALITIES
from lumabench.paths import Paths
from lumabench.schemas import CLIPS, GENERATED, MANIFEST, VERDICTS

FIX = "run `lumabench annotate` first (it writes the verdicts the page shows)"
#: verdict -> doubt rank (higher is shown first)
DOUBT = {"rejected": 3, "doubtful": 2, "unchecked": 1, "passed": 0}


@dataclass(frozen=True)
class Item:
    modality: str
    item_id: str
    label: str
    corpus: str
    voice: str | None
    path: Path | None  # media file (image, clip); None for texts
    verdict: str  # rejected | doubtful | unchecked | passed
    reason: str | None
    heard: str | None
    details: dict = field(default_factory=dict)  # text, prompt, pool, duration, alignment score

    @property
    def key(self) -> str:
        return f"{self.modality}:{self.item_id}"

    def summary(self) -> dict:
        """What the queue needs about the item (the page filters and orders on it)."""
        return {"key": self.key, "modality": self.modality, "item_id": self.item_id, "label": self.label,
                "corpus": self.corpus, "voice": self.voice, "verdict": self.verdict}  # fmt: skip


def _verdict(v: dict | None, label: str) -> tuple[str, str | None, str | None]:
    """(verdict, reason, heard) of one item from its VERDICTS row."""
    if v is None:
        return "unchecked", "not in the last annotate run (re-run `lumabench annotate`)", None
    heard = v["heard"]
    if v["auto_filter"]:
        return "rejected", f"{v['auto_filter']}: {v['auto_reason']}", heard
    if v["modality"] == "audio" and heard != label and heard is not None:
        return "doubtful", f"heard {heard!r} (below the recognition threshold)", heard
    return "passed", None, heard


def _order(item: Item) -> tuple:
    score = item.details.get("align_score")
    align = score if isinstance(score, float) and math.isfinite(score) else math.inf
    return (-DOUBT[item.verdict], MODALITIES.index(item.modality), align, item.label, item.item_id)


def load_items(paths: Paths) -> list[Item]:
    """Every item of the annotate stage with its automatic verdict, most doubtful first."""
    verdicts = {
        (v["modality"], v["item_id"]): v
        for v in read_parquet(paths.accepted / "verdicts.parquet", VERDICTS, FIX).to_pylist()
    }
    items: list[Item] = []
    for r in image_rows(read_parquet(paths.manifest, MANIFEST), paths):
        verdict, reason, _ = _verdict(verdicts.get(("image", r["image_id"])), r["label"])
        path = paths.confine(r["path"], f"path of image {r['image_id']!r}", paths.manifest)
        items.append(Item("image", r["image_id"], r["label"], f"{r['source']}/{r['pool']}", None, path, verdict,
                          reason, None, {"pool": r["pool"]}))  # fmt: skip
    for r in read_parquet(paths.clips, CLIPS).to_pylist():
        verdict, reason, heard = _verdict(verdicts.get(("audio", r["clip_id"])), r["label"])
        path = paths.confine(r["path"], f"path of clip {r['clip_id']!r}", paths.clips)
        details = {"duration_s": r["duration_s"], "align_score": r["align_score"]}
        items.append(Item("audio", r["clip_id"], r["label"], r["corpus"] or "", r["speaker"], path, verdict, reason,
                          heard, details))  # fmt: skip
    for r in read_parquet(paths.generated, GENERATED).to_pylist():
        verdict, reason, _ = _verdict(verdicts.get(("text", r["text_id"])), r["label"])
        details = {"text": r["text"] or "", "prompt": r["prompt"] or ""}
        items.append(Item("text", r["text_id"], r["label"], r["backend"] or "", None, None, verdict, reason, None,
                          details))  # fmt: skip
    return sorted(items, key=_order)


def segments(text: str, label: str) -> list[dict]:
    """`text` cut into pieces, each class word a piece of its own (so the page can mark own and other
    class mentions, as the text filters count them); joined, the pieces give `text` back."""
    out: list[dict] = []
    at = 0
    for m in WORD.finditer(text):
        c = by_form(m.group(0).split("'")[0])
        if c is None:
            continue
        if m.start() > at:
            out.append({"text": text[at : m.start()]})
        out.append({"text": m.group(0), "label": c.name, "own": c.name == label})
        at = m.end()
    if at < len(text):
        out.append({"text": text[at:]})
    return out
