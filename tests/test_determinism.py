"""The deterministic-kernels switch: on inside the block, restored after, and cheap to enter."""

from __future__ import annotations

import subprocess
import sys

import torch

from lumabench.determinism import deterministic


def test_deterministic_sets_and_restores_the_flags() -> None:
    def flags() -> tuple[bool, bool]:
        return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()

    before = flags()
    with deterministic():
        assert flags() == (True, True)
    assert flags() == before


def test_deterministic_does_not_load_the_graph_compiler() -> None:
    """The public setter imports torch._inductor (seconds per training process); nothing here compiles."""
    code = (
        "import sys, torch\n"
        "from lumabench.determinism import deterministic\n"
        "with deterministic():\n"
        "    assert torch.are_deterministic_algorithms_enabled()\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "print('torch._inductor' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_deterministic_sets_the_compiler_flag_once_the_compiler_is_loaded() -> None:
    code = (
        "import torch, torch._inductor.config as c\n"
        "from lumabench.determinism import deterministic\n"
        "with deterministic():\n"
        "    assert c.deterministic and torch.are_deterministic_algorithms_enabled()\n"
        "assert not c.deterministic\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
