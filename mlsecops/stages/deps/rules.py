"""The deps stage's rules: a vulnerable pinned dependency, and a requirement that is not pinned.

Vulnerabilities get one SARIF rule each (`MLS201/<id>`, built by the SARIF
reporter from the finding); MLS201 here is their shared description. Things the
stage could not audit (a malformed line, an include loop, a URL requirement, an
unreachable service) are stage errors, not findings: they fail closed through
the policy's `fail_on_scanner_error`.
"""

from __future__ import annotations

from mlsecops.findings import Severity
from mlsecops.rules import Rule

DOCS = "https://github.com/mlsecops/mlsecops/blob/main/docs/deps.md"

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="MLS201",
            name="vulnerable-dependency",
            short="A pinned dependency has a known vulnerability",
            full="A manifest pins a release that an OSV advisory lists as vulnerable. The finding "
            "names the advisory (and its aliases), the pinned version and the releases that fix it; "
            "its severity is the advisory's own (CVSS or the database's rating) or, when the "
            "advisory states none, the policy's `deps.unknown_severity`.",
            help="Upgrade to the minimal safe version shown in the fix (the lowest release that "
            "clears every known vulnerability of the package), regenerate the lock file, or waive the "
            "advisory by id in the policy's `deps.ignore` with a reason and an expiry date.",
            severity=Severity.high,
            help_uri=DOCS + "#mls201-vulnerable-dependency",
        ),
        Rule(
            id="MLS202",
            name="unpinned-requirement",
            short="A requirement is not pinned to an exact version",
            full="The requirement allows a range of versions and no lock or constraints file pins it, "
            "so the release that gets installed can change from one install to the next, and the gate "
            "cannot know which one to audit. It was not audited (unless the policy's `deps.resolve` "
            "asks pip to resolve it).",
            help="Pin the requirement with `==` (for example with `pip-compile` or `uv pip compile`), "
            "or commit the lock file your tool writes. The policy's `deps.unpinned` sets this "
            "finding's severity, or `off`.",
            severity=Severity.medium,
            help_uri=DOCS + "#mls202-unpinned-requirement",
        ),
    )
}
