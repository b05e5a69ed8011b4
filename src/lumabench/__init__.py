"""lumabench: the LUMA multimodal uncertainty benchmark, built reproducibly from raw corpora."""

__version__ = "0.1.0"
