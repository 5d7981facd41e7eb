"""Install and reproduce commands shown to people (PR comment, console, stage errors).

One place for every such string, so each one works as written. The distribution is
`mlsecops-gate` (the PyPI name `mlsecops` belongs to an unrelated project), installed
from the tagged release on GitHub or run as the published container. The Action's branch
adds `mlsecops/install.py` with the same strings: when it lands, these functions become
thin wrappers around it.
"""

from __future__ import annotations

import shlex

from mlsecops import __version__

REPOSITORY = "https://github.com/mlsecops/mlsecops"


def container_image() -> str:
    return f"ghcr.io/mlsecops/mlsecops:{__version__}"


def pip_install(extra: str | None = None) -> str:
    """`pip install "mlsecops-gate[extra] @ git+…@v<version>"`: the release this report came from."""
    name = f"mlsecops-gate[{extra}]" if extra else "mlsecops-gate"
    return f'pip install "{name} @ git+{REPOSITORY}@v{__version__}"'


def reproduce(scan_args: list[str]) -> list[str]:
    """The lines that rerun this scan locally: install the same release, then `mlsecops scan …`
    (or the same scan in the container, which needs nothing installed)."""
    args = " ".join(shlex.quote(a) for a in scan_args)
    return [pip_install("fuzz"), f"mlsecops scan {args}",
            f'# or in the container: docker run --rm -v "$PWD:/repo" -w /repo {container_image()} scan {args}']
