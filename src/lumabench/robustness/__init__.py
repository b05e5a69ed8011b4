"""Stage `lumabench robustness`: train on modality set A, deploy on set B (McKinzie et al., ICML 2023).

For every method of `robustness.methods` and training seed: the A→B matrix of accuracy, NLL, ECE
and Brier score (A = `train_sets`, B = `test_sets`, on `robustness.variant`), the same row for the
model trained with modality-augmented self-distillation (intervention 1) and the WiSE-FT curve
between a model trained on `wise_ft.old` and its fine-tuning with the modalities of `wise_ft.new`
(intervention 2). Writes results/<profile>/robustness/<method>/seed-<S>.json (one run's numbers)
and results/<profile>/robustness/summary.json (mean ± sd over seeds, relative and effective
robustness, each intervention's gain as a ratio, and which method is most robust to losing each
modality), which the report reads. docs/robustness.md has the definitions and choices.
"""

from lumabench.robustness.stage import run

__all__ = ["run"]
