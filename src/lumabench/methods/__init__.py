"""Uncertainty methods behind one contract (DESIGN §4); `registry.load_all()` lists them."""

from lumabench.methods.registry import METHODS, load_all, register

__all__ = ["METHODS", "load_all", "register"]
