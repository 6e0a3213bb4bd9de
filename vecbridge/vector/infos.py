"""Many instances' infos as one dict of arrays with ``_key`` masks (Gymnasium 1.x's vector info layout).

The same layout as Gymnasium's own vector envs: each key becomes an array with one row
per instance (numbers and booleans a numeric array of their type, numpy arrays stacked,
anything else an object array, ``final_obs`` always an object array), nested dicts
merge recursively, and ``_key`` marks the rows that have the key. Unlike Gymnasium's, the
array's dtype holds every row's value: ints and floats mixed make a float array, whatever
instance sent which (JSON writes a float 1.0 as 1).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

Info = dict[str, Any]


def merge_infos(infos: Mapping[int, Info], size: int, row_of: Mapping[int, int] | None = None) -> Info:
    """Merge ``{instance: info}`` into arrays of ``size`` rows; instance ``i`` fills row
    ``row_of[i]`` (default: row ``i``)."""
    merged: Info = {}
    for i, info in sorted(infos.items()):
        _add(merged, info, i if row_of is None else row_of[i], size)
    return merged


def _add(merged: Info, info: Mapping[str, Any], row: int, size: int) -> Info:
    for key, value in info.items():
        if key == "final_obs":  # kept as objects: users index it per instance
            array = merged[key] if key in merged else np.full(size, None, dtype=object)
            array[row] = value
        elif isinstance(value, dict):
            array = _add(merged.get(key, {}), value, row, size)
        else:
            if key in merged:
                array = _widened(merged[key], value)
            elif type(value) in (int, float, bool) or isinstance(value, np.number):
                array = np.zeros(size, dtype=type(value))
            elif isinstance(value, np.ndarray):
                array = np.zeros((size, *value.shape), dtype=value.dtype)
            else:
                array = np.full(size, None, dtype=object)
            array[row] = value
        mask = merged.get(f"_{key}")
        if mask is None:
            mask = np.zeros(size, dtype=np.bool_)
        mask[row] = True
        merged[key], merged[f"_{key}"] = array, mask
    return merged


def _widened(array: np.ndarray, value: Any) -> np.ndarray:
    """``array``, or a copy of a dtype that also holds ``value`` exactly: the first row's type must not decide
    (a JSON 1.0 arrives as the integer 1, and a 2.5 in an int64 array would be 2)."""
    if array.dtype == object:
        return array
    if type(value) in (int, float, bool) or isinstance(value, (np.number, np.ndarray)):
        # numpy's promotion: bool < int < float; an int too large for int64 makes an object array
        dtype = np.promote_types(array.dtype, np.asarray(value).dtype)
        if dtype != array.dtype:
            return array.astype(dtype)
    return array
