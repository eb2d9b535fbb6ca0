"""Read the feature tables' tensors back into NumPy without per-row Python.

The passing table stores its snap→release tensor flattened in ``tensor``: a list of constant length
``max_frames·22·8`` (float32) per row, valid frames first, zeros after ``seq_len`` (right-padding).
Spark writes it as a Parquet list; here it is cast to a fixed-size list, whose flat values reshape
to ``[n, max_frames, 22, 8]`` in one step.  Slot order and feature order: see ``features.build``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from pipelines.schema import N_PLAYERS, SEQ_FEATURES


def _table(path_or_table: str | Path | pa.Table) -> pa.Table:
    if isinstance(path_or_table, pa.Table):
        return path_or_table
    return ds.dataset(Path(path_or_table), format="parquet", partitioning="hive",
                      ignore_prefixes=[".", "_"]).to_table()


def _fixed(column: pa.ChunkedArray, width: int, name: str) -> np.ndarray:
    """Flat float32 values of a list column whose lists all have ``width`` elements."""
    arr = column.combine_chunks()
    try:
        arr = arr.cast(pa.list_(pa.float32(), width))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise ValueError(f"column {name!r}: expected lists of {width} floats ({err})") from None
    return arr.flatten().to_numpy(zero_copy_only=False)


def load_passing(path_or_table: str | Path | pa.Table) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """``(tensor [n, T, 22, 8] float32, seq_len [n] int, context as pandas)`` of a passing table."""
    table = _table(path_or_table)
    n = table.num_rows
    cell = N_PLAYERS * len(SEQ_FEATURES)
    first = table["tensor"].combine_chunks()
    width = len(first[0]) if n else cell
    if width % cell:
        raise ValueError(f"column 'tensor': list length {width} is not a multiple of 22·8 = {cell}")
    flat = _fixed(table["tensor"], width, "tensor")
    tensor = flat.reshape(n, width // cell, N_PLAYERS, len(SEQ_FEATURES))
    lengths = table["seq_len"].to_numpy().astype(np.int64)
    return tensor, lengths, table.drop_columns(["tensor"]).to_pandas()


def load_ghosting(path_or_table: str | Path | pa.Table) -> tuple[np.ndarray, pd.DataFrame]:
    """``(future positions [n, H, 2] float32, the other columns as pandas)`` of a ghosting table."""
    table = _table(path_or_table)
    n = table.num_rows
    width = len(table["future_xy"].combine_chunks()[0]) if n else 0
    future = _fixed(table["future_xy"], width, "future_xy").reshape(n, width // 2, 2)
    return future, table.drop_columns(["future_xy"]).to_pandas()
