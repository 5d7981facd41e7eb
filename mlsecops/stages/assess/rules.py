"""The assess stage's rules (MLS4xx): a declared bound on what the model does was broken."""

from __future__ import annotations

from mlsecops.findings import Severity
from mlsecops.rules import Rule

ASSESS_DOCS = "https://github.com/mlsecops/mlsecops/blob/main/docs/assess.md"
SAFE_FORMATS = ("Save the model as ONNX (skl2onnx, torch.onnx), skops (.skops, scikit-learn) or an XGBoost/"
                "LightGBM native file (JSON, UBJ or text), which run without executing code from the file.")

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="MLS401", name="assess-metric-out-of-bounds",
            short="A model metric is outside the policy's bounds",
            full="On the repository's evaluation data, a performance metric (scikit-learn) of the model in this "
            "commit is below the policy's `min` or above its `max` for that metric.",
            help="Check the model and the data change that moved the metric. If the new value is intended, change "
            "the bound in the policy in a reviewed pull request of its own.",
            severity=Severity.high, help_uri=ASSESS_DOCS,
        ),
        Rule(
            id="MLS402", name="assess-regression-against-base",
            short="The model is worse than the base commit's model by more than max_drop",
            full="The same evaluation data was run through the base commit's version of the model and this "
            "commit's; the metric moved in its bad direction by more than the policy's `max_drop`.",
            help="Compare the two models' training runs; a drop larger than the noise of your evaluation set is a "
            "regression. If it is the price of something else, record that in the policy's bound or a waiver.",
            severity=Severity.high, help_uri=ASSESS_DOCS,
        ),
        Rule(
            id="MLS403", name="assess-fairness-bound",
            short="A fairness metric is outside the policy's bounds",
            full="A fairlearn disparity metric (demographic parity, equalized odds, equal opportunity, or a "
            "per-group minimum or maximum) computed over the policy's sensitive columns is outside its bound. "
            "The per-group table (fairlearn MetricFrame) is in the evidence.",
            help="Look at the per-group table: which group's selection rate or error rate moved. Check the training "
            "data and features for proxies of the sensitive column; mitigate (fairlearn's reductions or "
            "post-processing) or justify the bound in the policy.",
            severity=Severity.high, help_uri=ASSESS_DOCS,
        ),
        Rule(
            id="MLS404", name="assess-robustness-bound",
            short="The model fails a robustness check of the policy",
            full="Perturbed evaluation data (gaussian noise on numeric features), a black-box attack from the "
            "Adversarial Robustness Toolbox under a query budget, or edge values (NaN, ±Inf, extremes) made the "
            "model's metric drop, its decisions flip, its outputs non-finite or its runtime crash beyond the "
            "policy's bound.",
            help="Train with noise or adversarial augmentation, validate and clamp inputs before inference, or "
            "relax the bound in a reviewed policy change if the threat does not apply.",
            severity=Severity.high, help_uri=ASSESS_DOCS,
        ),
        Rule(
            id="MLS405", name="assess-not-assessed",
            short="The model could not be assessed",
            full="The model or its data is missing, a column is missing, the format cannot be run safely (a pickle, "
            "a skops file with types off the trusted list), or the evaluation crashed or ran out of its budget. "
            "Reported as a stage error, which fails the gate when the policy fails closed.",
            help=SAFE_FORMATS + " Check the paths and columns in the policy's assess.models entry.",
            severity=Severity.high, help_uri=ASSESS_DOCS,
        ),
    )
}
