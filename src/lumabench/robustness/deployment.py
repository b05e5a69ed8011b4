"""One model deployed on modality sets: the cells of its row of the A→B matrix.

A model holds the encoders of its training set A only, so deployed on B it sees A ∩ B: every B
with the same A ∩ B gives the same batches, and therefore the same prediction (prediction draws
are seeded per split, as in the train stage), so each A ∩ B is predicted once. The rows scored are
those the model has an input for (`train.scorable`, the train stage's rule): when A and B share no
modality there is none, and the cell is empty rather than a score of inputs the model never got.
"""

from __future__ import annotations

from typing import Any

from lumabench.data import SplitTensors
from lumabench.evaluate import metrics as M
from lumabench.methods.base import Method, Prediction
from lumabench.modality_sets import deploy, set_name
from lumabench.params import canonical_set
from lumabench.train import _r, check_predictions, scorable

METRICS = ("acc", "nll", "ece", "brier")


class Deployment:
    """`model` deployed on sets of modalities of the `test` split (CPU tensors)."""

    def __init__(self, model: Method, test: SplitTensors, label: str) -> None:
        self.model = model
        self.test = test
        self.label = label  # names the model in errors (method, seed, training set)
        self._seen: dict[tuple[str, ...], tuple[SplitTensors, Prediction] | None] = {}

    def predict(self, modalities: tuple[str, ...] | list[str]) -> tuple[SplitTensors, Prediction] | None:
        """The scored rows and the prediction on them with only `modalities` available (None: the
        model has none of them)."""
        effective = canonical_set(tuple(m for m in modalities if m in self.model.modalities))
        if effective not in self._seen:
            self._seen[effective] = self._predict(effective) if effective else None
        return self._seen[effective]

    def _predict(self, effective: tuple[str, ...]) -> tuple[SplitTensors, Prediction] | None:
        split = deploy(self.test, effective)
        rows = scorable(split, self.model.modalities)
        if len(rows) == 0:
            return None
        split = split.subset(rows)
        pred = self.model.predict_split(split.to(self.model.device), "test")
        check_predictions(self.label, f"deployed on {set_name(effective)}", [("test", pred)])
        return split, pred

    def cell(self, modalities: tuple[str, ...] | list[str]) -> dict[str, Any] | None:
        """acc, NLL, ECE and Brier score (rounded as in the metrics JSON) and n, or None (no input)."""
        out = self.predict(modalities)
        if out is None:
            return None
        split, pred = out
        scores = M.classification(pred.probs.double().numpy(), split.class_id.numpy())
        return {**{k: _r(scores[k]) for k in METRICS}, "n": len(split)}
