"""Rejection rates of the annotate stage, per filter and per voice, from its verdict rows.

Rates count final decisions (a human reject counts under `human`); the share is of all items of
the modality (per filter) or all clips of the voice (per voice), so a filter's rate reads as
"what fraction of the corpus this filter removed".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable


def by_filter(verdicts: Iterable[dict]) -> list[dict]:
    """One row per (modality, filter) that rejected something: rejected, total, rate."""
    totals: Counter[str] = Counter()
    hits: Counter[tuple[str, str]] = Counter()
    for v in verdicts:
        totals[v["modality"]] += 1
        if v["decision"] == "reject":
            hits[(v["modality"], v["final_filter"] or "unknown")] += 1
    return [
        {"modality": m, "filter": f, "rejected": k, "total": totals[m], "rate": k / totals[m]}
        for (m, f), k in sorted(hits.items())
    ]


def by_voice(verdicts: Iterable[dict]) -> list[dict]:
    """One row per voice (clips only), most rejected first: rejected, total, rate, count per filter."""
    totals: Counter[str] = Counter()
    filters: dict[str, Counter[str]] = defaultdict(Counter)
    for v in verdicts:
        if v["modality"] != "audio" or not v.get("voice"):
            continue
        totals[v["voice"]] += 1
        if v["decision"] == "reject":
            filters[v["voice"]][v["final_filter"] or "unknown"] += 1
    rows = [
        {"voice": voice, "rejected": sum(filters[voice].values()), "total": n,
         "rate": sum(filters[voice].values()) / n, "filters": dict(filters[voice])}
        for voice, n in totals.items()
    ]  # fmt: skip
    return sorted(rows, key=lambda r: (-r["rate"], r["voice"]))
