"""Every analyzer by the format it reads, and every engine by its policy name.

Adding a format is one analyzer module (its `ANALYZERS`) and its name below; adding an
engine is one engine module (its `ENGINE`) and its name below (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from mlsecops.formats.kinds import Format
from mlsecops.stages.models.analyzers import (archives, compressed, gguf, keras, numpy_files, onnx_files, pickles, safetensors,
                                              templates, tensorflow, zips)
from mlsecops.stages.models.engines import fickling_engine, modelscan_engine
from mlsecops.stages.models.interface import Analyzer, Engine

_ANALYZER_MODULES = (pickles, zips, archives, compressed, numpy_files, keras, tensorflow, onnx_files, safetensors, gguf,
                     templates)
_ENGINE_MODULES = (fickling_engine, modelscan_engine)  # in the order they run on a pickle


def _by_format(analyzers: Iterable[Analyzer]) -> dict[Format, Analyzer]:
    table: dict[Format, Analyzer] = {}
    for analyzer in analyzers:
        for fmt in analyzer.formats:
            if fmt in table:
                raise ValueError(f"two analyzers read {fmt.value}")
            table[fmt] = analyzer
    return table


ANALYZERS: dict[Format, Analyzer] = _by_format(a for module in _ANALYZER_MODULES for a in module.ANALYZERS)
ENGINES: dict[str, Engine] = {module.ENGINE.name: module.ENGINE for module in _ENGINE_MODULES}
