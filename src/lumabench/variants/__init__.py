"""Stage 6: build one dataset variant as self-contained Parquet (train, test, ood).

A variant is a named entry of params.yaml `variants.definitions` (a family and its settings; a
sweep level is `name@level`). See build.py for the provenance columns and align.py for which
random draws variants share.
"""

from __future__ import annotations

import logging

from lumabench.params import Params
from lumabench.paths import Paths

log = logging.getLogger(__name__)


def run(params: Params, paths: Paths, variant: str) -> None:
    """Build `variant` into data/<profile>/variants/<variant>/{train,test,ood}.parquet."""
    from lumabench.variants.build import build

    out = build(params, paths, variant)
    log.info("variant %s written to %s", variant, out)
