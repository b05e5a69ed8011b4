"""Stage 1 `lumabench corpora`: the raw corpora under data/<profile>/raw/ with their manifest.

`mini` builds the embedded offline corpus; `full` fetches the real corpora.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # worker processes import this package: keep it light
    from lumabench.params import Params
    from lumabench.paths import Paths


def run(params: Params, paths: Paths) -> None:
    """Build raw/ for the selected profile."""
    if params.profile == "mini":
        from lumabench.corpora.mini import build_mini

        build_mini(params, paths)
    else:
        from lumabench.corpora.full import build_full

        build_full(params, paths)
