"""Read the evaluation table and split it into features, target and sensitive columns. Sandbox only.

CSV goes through pandas' C parser, Parquet through fastparquet (2 MB against
pyarrow's 55, called directly since pandas 3 deprecates it as an engine): both read data
and run nothing from the file. The row count is bounded (`assess.max_rows`).
Sensitive columns are handed to the model only when the policy lists them in
`features`; by default the features are every other column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlsecops.stages.assess.policy import ModelEntry


class DataError(Exception):
    """The data cannot be used as the policy describes it. `str()` says what to fix."""


@dataclass
class Table:
    X: pd.DataFrame  # noqa: N815 - the usual name for a feature table
    y: pd.Series
    sensitive: pd.DataFrame


def read(path: Path, fmt: str, max_rows: int) -> pd.DataFrame:
    try:
        if fmt == "parquet":
            from fastparquet import ParquetFile  # directly: pandas 3 deprecates its fastparquet engine

            df = ParquetFile(str(path)).to_pandas()
        else:
            df = pd.read_csv(path, nrows=max_rows + 1, engine="c", low_memory=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure on an untrusted file is a data error
        raise DataError(f"the data file could not be read as {fmt.upper()}: {type(exc).__name__}: {str(exc)[:300]}") from None
    if len(df) > max_rows:
        raise DataError(f"the data has more than assess.max_rows ({max_rows}) rows")
    if df.empty:
        raise DataError("the data has no rows")
    df.columns = [str(c) for c in df.columns]
    return df


def load(path: Path, fmt: str, entry: ModelEntry, max_rows: int) -> Table:
    df = read(path, fmt, max_rows)
    wanted = [entry.target, *entry.sensitive, *(entry.features or [])]
    missing = [c for c in dict.fromkeys(wanted) if c not in df.columns]
    if missing:
        shown = ", ".join(list(df.columns)[:20])
        raise DataError(f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} not in the data "
                        f"(its columns: {shown}{' ...' if len(df.columns) > 20 else ''})")
    if df[entry.target].isna().any():
        raise DataError(f"the target column {entry.target!r} has {int(df[entry.target].isna().sum())} empty values")
    features = entry.features or [c for c in df.columns if c != entry.target and c not in entry.sensitive]
    if not features:
        raise DataError("no feature column is left after the target and the sensitive columns")
    return Table(X=df[features].reset_index(drop=True), y=df[entry.target].reset_index(drop=True),
                 sensitive=df[entry.sensitive].reset_index(drop=True))
