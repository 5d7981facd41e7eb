"""The deps stage's rules: a vulnerable pin, an unpinned requirement, a dependency that cannot be
audited, and a tree where no dependency was found.

Vulnerabilities get one SARIF rule each (`MLS201/<id>`, built by the SARIF
reporter from the finding); MLS201 here is their shared description. What the
stage could not read (a malformed line, an include loop, an unreachable
service) is a stage error, not a finding: it fails closed through the policy's
`fail_on_scanner_error`. A dependency that was read but has nothing to look up
(a git source, a conda package that is no PyPI project) is one MLS203 finding,
as severe as the policy says, so one such line cannot turn a whole lock file
into an error.
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
        Rule(
            id="MLS203",
            name="unaudited-dependency",
            short="A declared dependency could not be audited",
            full="The manifest declares a dependency that cannot be tied to a PyPI release, so no advisory was "
            "looked up for it: its source is a git (or other VCS) repository or a URL that names no release, it is "
            "a conda package that holds no PyPI project (one finding per environment file lists them, with the "
            "name map used), or setup.py or pyproject.toml computes it at build time. The rest of the manifest is "
            "audited as usual.",
            help="Depend on a released version (`name==X`) where you can; review a git dependency at the commit "
            "you pin. The policy's `deps.unaudited` (`deps.conda_unmapped` for conda packages) sets this finding's "
            "severity, or `off`; a waiver by rule and path accepts one on purpose.",
            severity=Severity.medium,
            help_uri=DOCS + "#mls203-unaudited-dependency",
        ),
        Rule(
            id="MLS204",
            name="no-dependencies-found",
            short="No declared dependency was found",
            full="A scan of the whole tree found no file that declares Python dependencies (requirements and "
            "constraints files, pyproject.toml, setup.py, setup.cfg, Pipfile, conda environment files, lock files, "
            "or a requirements file that a Dockerfile, CI workflow or tox.ini installs), or the ones it found declare "
            "none. If the project has dependencies, they live where the gate does not look, and none was audited.",
            help="Commit the project's requirements or lock file, or point the policy's `deps.manifests` (file "
            "names) or `deps.installers` (files that `pip install -r` them) at it. `deps.no_manifest: off` silences "
            "this for a repository without Python dependencies.",
            severity=Severity.low,
            help_uri=DOCS + "#mls204-no-dependencies-found",
        ),
    )
}
