"""Judge one model's results against its policy entry: findings, stage errors and the table for reports.

For every metric: the head value against `min`/`max` (MLS401, or MLS403 for a
fairness metric) and, when the base commit's model was assessed, the move in
the metric's bad direction against `max_drop` (MLS402). A bound that cannot be
checked because the metric could not be computed is a stage error (MLS405),
never a pass. When there is no base model, `max_drop` is skipped and the
report says why. Robustness values are judged against their bounds (MLS404).
The per-group table (fairlearn's MetricFrame) goes into the evidence of every
fairness finding and into the report.
"""

from __future__ import annotations

from typing import Any

from mlsecops.findings import Finding, Severity, Stage, StageError, fingerprint
from mlsecops.reporters.escape import plain
from mlsecops.stages.assess import catalog
from mlsecops.stages.assess.job import Check, GroupRow, ModelResult
from mlsecops.stages.assess.policy import Bound, ModelEntry

EPS = 1e-9


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"


def bound_text(b: Bound) -> str:
    parts = [f"{k} {fmt(v)}" for k, v in (("min", b.min), ("max", b.max), ("max_drop", b.max_drop)) if v is not None]
    return ", ".join(parts) or "none"


def group_lines(groups: list[GroupRow], columns: list[str], label: str = "") -> list[str]:
    out = []
    for row in groups:
        vals = ", ".join(f"{k} {fmt(v)}" if k != "count" else f"n={int(v or 0)}" for k, v in row.values.items())
        out.append(plain(f"{label}{' × '.join(columns)} = {row.group}: {vals}", 300))
    return out


class Verdicts:
    """What one entry produced: findings, errors, and its row of the stage's report."""

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        self.findings: list[Finding] = []
        self.errors: list[StageError] = []

    def finding(self, rule: str, severity: str, key: str, message: str, fix: str, evidence: list[str] | None = None,
                props: dict[str, Any] | None = None) -> None:
        self.findings.append(Finding(
            rule_id=rule, stage=Stage.assess, severity=Severity(severity), path=self.entry.path, line=None,
            message=message, evidence=evidence or [], fingerprint=fingerprint(rule, self.entry.path, key),
            fix=fix, properties={"data": self.entry.data, **(props or {})},
        ))

    def error(self, message: str) -> None:
        self.errors.append(StageError(stage=Stage.assess, path=self.entry.path, message=f"MLS405 {message}"))


def judge_metrics(v: Verdicts, head: ModelResult, base: ModelResult | None, base_note: str) -> list[dict[str, Any]]:
    entry = v.entry
    rows: list[dict[str, Any]] = []
    evidence = group_lines(head.groups, head.group_columns)
    if base is not None and base.groups:
        evidence += group_lines(base.groups, base.group_columns, "base model: ")
    for name, b in entry.metrics.items():
        info = catalog.info(name)
        assert info is not None  # checked when the policy was loaded
        h = head.metrics.get(name)
        bv = base.metrics.get(name) if base is not None else None
        change = None if h is None or bv is None else h - bv
        row = {"metric": name, "fairness": info.fairness, "direction": info.direction, "head": h, "base": bv,
               "change": change, "bound": bound_text(b), "ok": True}
        rows.append(row)
        if h is None:
            why = head.metric_errors.get(name, "no value")
            row["ok"] = False
            v.error(f"{name} could not be computed on {entry.data}: {why}")
            continue
        props = {"metric": name, "head": h, "base": bv, "change": change, "bound": bound_text(b)}
        rule = "MLS403" if info.fairness else "MLS401"
        ev = evidence if info.fairness else []
        base_txt = f" (base model: {fmt(bv)})" if bv is not None else ""
        fix = ("Look at the per-group table for the group that moved; check the features for proxies of the "
               "sensitive columns." if info.fairness else "Find what moved the metric, or change the bound in a "
               "reviewed policy change.")
        if b.min is not None and h < b.min - EPS:
            row["ok"] = False
            v.finding(rule, b.severity, f"{name}|min", f"{name} is {fmt(h)} on {entry.data}, below the policy's min "
                      f"{fmt(b.min)}{base_txt}", fix, ev, props)
        if b.max is not None and h > b.max + EPS:
            row["ok"] = False
            v.finding(rule, b.severity, f"{name}|max", f"{name} is {fmt(h)} on {entry.data}, above the policy's max "
                      f"{fmt(b.max)}{base_txt}", fix, ev, props)
        if b.max_drop is not None:
            if bv is None:
                row["note"] = f"max_drop not checked: {base_note or 'the base model has no value'}"
                continue
            worse = (bv - h) if info.direction == "higher" else (h - bv)
            if worse > b.max_drop + EPS:
                row["ok"] = False
                v.finding("MLS402", b.severity, f"{name}|drop",
                          f"{name} went from {fmt(bv)} (base model) to {fmt(h)} on {entry.data}: worse by {fmt(worse)}, "
                          f"more than the policy's max_drop {fmt(b.max_drop)}",
                          "Compare the two models' training runs; if the drop is intended, change the bound in a "
                          "reviewed policy change.", ev, props)
    return rows


def judge_robustness(v: Verdicts, head: ModelResult) -> list[dict[str, Any]]:
    rob = v.entry.robustness
    rows: list[dict[str, Any]] = []
    for check in head.robustness:
        bound, severity, what = _bound_of(v.entry, check)
        row = {"check": check.name, "value": check.value, "clean": check.clean, "perturbed": check.perturbed,
               "bound": bound, "notes": check.notes[:6], "ok": True}
        rows.append(row)
        if check.error:
            row["ok"] = False
            v.error(f"robustness check {check.name} could not run on {v.entry.data}: {check.error}")
            continue
        if bound is None or check.value is None or check.value <= bound + EPS:
            continue
        row["ok"] = False
        v.finding("MLS404", severity, check.name, f"{check.name}: {what} {fmt(check.value)} on {v.entry.data}, above "
                  f"the policy's bound {fmt(bound)}", _ROBUST_FIX[check.name], [plain(n, 300) for n in check.notes[:8]],
                  {"check": check.name, "value": check.value, "bound": bound})
    if head.nonfinite_rows:
        v.finding("MLS404", rob.edge_values.severity if rob.edge_values else "high", "nonfinite",
                  f"the model returned NaN or infinite scores for {head.nonfinite_rows} of {head.rows} rows of "
                  f"{v.entry.data} (ordinary evaluation inputs)", _ROBUST_FIX["edge_values"], [],
                  {"check": "nonfinite_outputs", "value": head.nonfinite_rows})
    return rows


def _bound_of(entry: ModelEntry, check: Check) -> tuple[float | None, str, str]:
    rob = entry.robustness
    if check.name == "gaussian_noise" and rob.gaussian_noise is not None:
        g = rob.gaussian_noise
        return g.max_accuracy_drop, g.severity, f"{g.metric} drops by"
    if check.name == "black_box" and rob.black_box is not None:
        return rob.black_box.max_success_rate, rob.black_box.severity, "attack success rate"
    if check.name == "edge_values" and rob.edge_values is not None:
        return 0.0, rob.edge_values.severity, "kinds of zero-like inputs (0, -0.0, subnormal) giving NaN/Inf outputs:"
    return None, "high", check.name


def edge_crash(v: Verdicts, kind: str, how: str) -> None:
    severity = v.entry.robustness.edge_values.severity if v.entry.robustness.edge_values else "high"
    v.finding("MLS404", severity, f"edge-crash|{kind}",
              f"the model's runtime crashed on {v.entry.data} rows with {kind} in the numeric features ({how})",
              _ROBUST_FIX["edge_values"], [], {"check": "edge_values", "kind": kind})


_ROBUST_FIX = {
    "gaussian_noise": "Train with noise augmentation or regularise; check which features the model leans on.",
    "black_box": "Adversarial training, input validation, or a bound that matches the threat model.",
    "edge_values": "Validate and clamp inputs before inference; report runtime crashes upstream.",
}
