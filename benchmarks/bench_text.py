"""Throughput of the template text backend and of the text filters, and their acceptance rate.

Usage: .venv/bin/python benchmarks/bench_text.py [texts_per_class]   (default: params.yaml's value)
Prints texts/s for generation, texts/s for filtering, and the share of texts each filter rejects.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from lumabench.annotate import filter_texts
from lumabench.params import load_params
from lumabench.text.backend import jobs_for
from lumabench.text.template import TemplateBackend


def main() -> None:
    over = ["text.backend=template"] + ([f"text.texts_per_class={sys.argv[1]}"] if len(sys.argv) > 1 else [])
    params = load_params("params.yaml", over)
    jobs = jobs_for(params.text, params.seed)
    backend = TemplateBackend()
    backend.generate(jobs[:1])  # load WordNet once, outside the timing
    t0 = time.perf_counter()
    texts = backend.generate(jobs)
    gen_s = time.perf_counter() - t0
    rows = [{"text_id": j.text_id, "label": j.label, "text": t} for j, t in zip(jobs, texts, strict=True)]
    t0 = time.perf_counter()
    rejected = filter_texts(rows, params, {})
    filt_s = time.perf_counter() - t0
    n = len(rows)
    words = sum(len(t.split()) for t in texts) / n
    print(f"template backend: {n} texts in {gen_s:.2f} s = {n / gen_s:.0f} texts/s (mean {words:.0f} words)")
    print(f"text filters:     {n} texts in {filt_s:.2f} s = {n / filt_s:.0f} texts/s")
    print(f"accepted: {n - len(rejected)} of {n} ({100 * (n - len(rejected)) / n:.1f}%)")
    for name, count in sorted(Counter(r.filter for r in rejected.values()).items()):
        print(f"  rejected by {name}: {count} ({100 * count / n:.2f}%)")


if __name__ == "__main__":
    main()
