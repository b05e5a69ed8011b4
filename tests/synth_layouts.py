"""Feature layouts with a known nearest-class structure, for the label-switching tests.

One axis per class id keeps every distance predictable: class centres sit on orthogonal axes
(pairwise distance radius·√2), so only the deliberate structure decides which class is nearest.
- hub: the hub class sits at the origin, distance `radius` from every other class, so every
  item's nearest other class is the hub (the case that let one class be crowded out);
- pairs: classes 2j and 2j+1 sit close together on one axis, each the other's nearest class, so
  every class receives exactly what it sends and no capacity is ever binding.
"""

from __future__ import annotations

import numpy as np

N_AXES = 64


def hub_layout(labels: np.ndarray, hub: int, rng: np.random.Generator, radius: float = 10.0) -> np.ndarray:
    """[N, 64] features: class c at radius·e_c, the hub class at 0, isotropic noise (sd 0.5)."""
    labels = np.asarray(labels)
    centres = radius * np.eye(N_AXES)
    centres[hub] = 0.0
    return (centres[labels] + rng.normal(0, 0.5, (len(labels), N_AXES))).astype(np.float32)


def pairs_layout(labels: np.ndarray, rng: np.random.Generator, radius: float = 10.0) -> np.ndarray:
    """[N, 64] features: classes 2j, 2j+1 at radius·e_j ± 2·e_{32+j}, isotropic noise (sd 0.5)."""
    labels = np.asarray(labels)
    centres = np.zeros((N_AXES, N_AXES))
    for c in range(N_AXES):
        j = c // 2
        if j < N_AXES // 2:
            centres[c, j] = radius
            centres[c, N_AXES // 2 + j] = 2.0 if c % 2 == 0 else -2.0
    return (centres[labels] + rng.normal(0, 0.5, (len(labels), N_AXES))).astype(np.float32)


def binomial_tolerance(p: float, n: int) -> float:
    """|share − p| allowed for a share of n items each foreign with probability p: 3 sd + one item."""
    return 3 * float(np.sqrt(p * (1 - p) / n)) + 1 / n
