"""A malicious corpus generated in code from reading the loaders, to attack mlsecops's models stage.

`all_samples()` lists every sample (families/ holds one module per family);
`verify.verify(sample)` proves a sample reaches its side effect with the real
loader in a sandbox; `python -m benchmarks.redteam` writes, verifies and lists
the corpus. Nothing generated here is committed: the bytes come from code.
"""

from __future__ import annotations

import importlib
import pkgutil

from benchmarks.redteam.sample import Sample

__all__ = ["Sample", "all_samples"]


def all_samples() -> list[Sample]:
    from benchmarks.redteam import families

    out: list[Sample] = []
    for info in sorted(pkgutil.iter_modules(families.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"benchmarks.redteam.families.{info.name}")
        out.extend(module.SAMPLES)
    names = [s.name for s in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate sample names: {sorted(dupes)}")
    return out
