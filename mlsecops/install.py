"""How to install and run mlsecops, in one place: the PR comment's "Reproduce locally", the
README and the docs all take their commands from here, so none of them can drift or name a
package that is not ours.

The PyPI name `mlsecops` belongs to an unrelated placeholder project. Our distribution is
`mlsecops-gate` (the import package and the command stay `mlsecops`), and it is not on PyPI
yet: until `PUBLISHED_ON_PYPI` is set, pip installs it from the release's git tag, and the
container is the release's image on GHCR. A development version (`0.2.0.dev0`, or a local
version) has no tag or image: it is installed from `main` and the image is built from it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict

from mlsecops import __version__

DISTRIBUTION = "mlsecops-gate"
COMMAND = "mlsecops"
REPOSITORY = "https://github.com/mlsecops/mlsecops"
IMAGE = "ghcr.io/mlsecops/mlsecops"
PUBLISHED_ON_PYPI = False
# The scanned folder inside the container: mounted from the current directory and made the
# working directory, so relative paths in the command mean what they mean on the host.
CONTAINER_DIR = "/src"
_DEV_IMAGE = "mlsecops:dev"


class Instructions(BaseModel):
    """The commands for one version of mlsecops."""

    model_config = ConfigDict(frozen=True)

    version: str
    ref: str  # the git tag of the release, or `main` for a development version
    pip: str  # one command that installs the `mlsecops` command
    image: str  # what `docker run` runs
    build: str | None = None  # the command that builds `image` first (development versions only)

    def command(self, args: Sequence[str]) -> str:
        """`mlsecops ARGS`, quoted for a POSIX shell."""
        return _join([COMMAND, *args])

    def container(self, args: Sequence[str]) -> list[str]:
        """The container's command lines for `mlsecops ARGS` on the current directory."""
        run = f'docker run --rm -v "$PWD:{CONTAINER_DIR}" -w {CONTAINER_DIR} {self.image} {_join(args)}'
        return [self.build, run] if self.build else [run]

    def reproduce(self, args: Sequence[str]) -> str:
        """A shell block that runs `mlsecops ARGS` with Docker, or else with pip (Python 3.11+)."""
        lines = ["# with Docker", *self.container(args), "# or with pip (Python 3.11+)", self.pip, self.command(args)]
        return "\n".join(lines)


def for_version(version: str = __version__, extra: str | None = None) -> Instructions:
    """The instructions that work for `version` (the running one by default); `extra` names
    the optional dependencies pip installs too (`fuzz` for the fuzz stage's loaders)."""
    released = _is_release(version)
    ref = f"v{version}" if released else "main"
    name = f"{DISTRIBUTION}[{extra}]" if extra else DISTRIBUTION
    if PUBLISHED_ON_PYPI and released:
        pip = f'pip install "{name}=={version}"' if extra else f"pip install {name}=={version}"
    else:
        pip = f'pip install "{name} @ git+{REPOSITORY}@{ref}"'
    if released:
        return Instructions(version=version, ref=ref, pip=pip, image=f"{IMAGE}:{ref}")
    return Instructions(version=version, ref=ref, pip=pip, image=_DEV_IMAGE,
                        build=f"docker build -t {_DEV_IMAGE} {REPOSITORY}.git#{ref}")


def _is_release(version: str) -> bool:
    """A final or pre-release version has a tag and an image; dev and local versions do not."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return not parsed.is_devrelease and parsed.local is None


def _join(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)
