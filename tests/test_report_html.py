"""The HTML report is self-contained: headless Chromium loads every image and requests nothing outside.

The check runs on a copy of the report with its Content-Security-Policy removed (so a stray external
reference would really be fetched and show up) and a small script appended that records broken
images and the page's resource loads; Chromium's net log is read as a second witness. A control
page with external references proves the check can fail.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lumabench.report.html import CSP
from test_report_fixture import reported_twice

__all__ = ["reported_twice"]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian `chromium` is not installed (/usr/bin/chromium)")

CHECK_JS = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var out = document.createElement('pre');
  out.id = 'lumabench-check';
  out.textContent = JSON.stringify({
    images: imgs.length,
    broken: broken.map(function (i) { return i.alt; }),
    resources: performance.getEntriesByType('resource').map(function (e) { return e.name; })
  });
  document.body.appendChild(out);
});
</script>"""


def _instrument(src: str) -> str:
    src = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", src)
    return src.replace("</body>", CHECK_JS + "</body>")


def _browse(page: Path, work: Path) -> tuple[dict, list[str]]:
    """Load `page` in headless Chromium; return the page's own report and external URLs it requested."""
    netlog = work / "net.json"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={work / 'profile'}",
        f"--log-net-log={netlog}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="lumabench-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the page's check did not run (rc {proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(html_lib.unescape(found.group(1)))
    external = []
    data = json.loads(netlog.read_text())
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    for event in data["events"]:
        params = event.get("params") or {}
        # requests made for the file:// page (Chromium's own background traffic has another key)
        for_page = event["type"] == start_job and "file://" in str(params.get("network_isolation_key", ""))
        if for_page and not str(params.get("url", "")).startswith(("file:", "data:")):
            external.append(params["url"])
    return report, external


def test_report_is_self_contained_statically(reported_twice: dict) -> None:
    doc = reported_twice["fx"].paths.report_html.read_text()
    assert f'content="{CSP}"' in doc
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', doc)
    assert refs and all(r.startswith(("data:image/png;base64,", "#")) for r in refs)
    assert not re.search(r"url\(|@import|https?://", doc)
    prov = reported_twice["fx"].params
    assert "params hash" in doc and reported_twice["first"].parent_run_id not in doc
    assert prov.profile in doc


@needs_chromium
def test_chromium_loads_every_image_and_nothing_external(reported_twice: dict, tmp_path: Path) -> None:
    fx = reported_twice["fx"]
    page = tmp_path / "report.html"
    page.write_text(_instrument(fx.paths.report_html.read_text()))
    report, external = _browse(page, tmp_path)
    n_figures = len(list(fx.paths.figures.glob("*.png")))
    assert report["images"] == n_figures > 0
    assert report["broken"] == []
    assert report["resources"] == []
    assert external == []

    # control: the same check flags a page that references the outside world
    control = tmp_path / "control.html"
    control.write_text(
        page.read_text().replace(
            "<body>",
            '<body><img alt="remote" src="http://198.51.100.7/x.png"><link rel="stylesheet" '
            'href="https://example.invalid/a.css">',
            1,
        )
    )
    work = tmp_path / "control"
    work.mkdir()
    report, external = _browse(control, work)
    assert report["broken"] == ["remote"]
    assert set(external) == {"http://198.51.100.7/x.png", "https://example.invalid/a.css"}


def test_report_states_seeds_label_sets_units_and_exclusions(reported_twice: dict) -> None:
    doc = reported_twice["fx"].paths.report_html.read_text()
    notes = " ".join(re.findall(r"<p>(.*?)</p>", doc, re.S))
    assert "mean ± sd" in notes and "n = 2 training seeds (42, 43)" in notes and "results_summary.csv" in notes
    assert "variant labels" in notes and "original labels" in notes and "nats" in notes and "K/S" in notes
    assert "Excluded rows" in notes
    head = re.search(r'<table id="table-main">.*?</thead>', doc, re.S)
    assert head is not None
    for h in ("Acc (variant labels) ↑", "Acc (original labels) ↑", "Aleatoric (nats)", "Vacuity (K/S)"):
        assert f"<th>{h}</th>" in head.group(0)
    assert "<th>Excluded test rows</th>" in head.group(0) and "<th>Seeds (n)</th>" in head.group(0)
    # a value is "mean ± sd"; a value a method does not have is an empty cell
    assert re.search(r'<td class="num">(<strong>)?\d\.\d{3} ± \d\.\d{3}', doc)
    assert '<td class="num"></td>' in doc and ">nan<" not in doc.lower()
