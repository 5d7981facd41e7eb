"""Write the deps stage's conda-to-PyPI name map from prefix.dev's parselmouth mapping.

parselmouth (https://github.com/prefix-dev/parselmouth, the map pixi and
conda-forge's tooling use) records, for every package of a conda channel, the
PyPI distributions found inside its artifacts (`*.dist-info`), or null for a
package that holds none (`python`, `openssl`, `cudatoolkit`). This keeps the
packages that hold at least one PyPI distribution, from the channels given,
and writes them one per line: `name` when the PyPI project has the conda
package's name, else `conda-name pypi-name [pypi-name ...]`.

    git -C parselmouth show REV:files/v0/conda-forge/compressed_mapping.json > cf.json
    git -C parselmouth show REV:files/v0/pytorch/compressed_mapping.json > pt.json
    python scripts/conda_mapping.py --commit REV --date YYYY-MM-DD conda-forge=cf.json pytorch=pt.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "mlsecops" / "stages" / "deps" / "data" / "conda_pypi.txt"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commit", required=True, help="the parselmouth commit the files come from")
    ap.add_argument("--date", required=True, help="that commit's date")
    ap.add_argument("channels", nargs="+", help="CHANNEL=compressed_mapping.json, in priority order")
    args = ap.parse_args()
    names: dict[str, list[str]] = {}
    channels = []
    for spec in args.channels:
        channel, _, path = spec.partition("=")
        channels.append(channel)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for conda, pypi in data.items():
            if not pypi or not _NAME.match(conda) or conda in names:
                continue
            names[conda] = sorted({_canonical(p) for p in pypi})
    header = [
        "# conda package -> PyPI project(s): the deps stage audits a conda package as these PyPI projects.",
        "# mapping: parselmouth (prefix.dev), files/v0/<channel>/compressed_mapping.json",
        f"# source: https://github.com/prefix-dev/parselmouth commit {args.commit} ({args.date})",
        f"# channels: {', '.join(channels)} (the first channel that maps a name wins)",
        "# derived: packages holding at least one PyPI distribution; null entries (no PyPI project) dropped.",
        "# format: `name` (the same name on PyPI) or `conda-name pypi-name [pypi-name ...]`.",
        "# regenerate: python scripts/conda_mapping.py (see its docstring)",
    ]
    body = [c if names[c] == [_canonical(c)] else " ".join([c, *names[c]]) for c in sorted(names)]
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    print(f"{TARGET.relative_to(ROOT)}: {len(body)} conda packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
