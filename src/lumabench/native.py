"""Schema metadata that makes a Parquet file load natively in other libraries, without project code.

`datasets` reads its feature types from the Arrow schema metadata (key `huggingface`), so media
columns stored in its Image/Audio layout (a struct of `bytes` and `path`) come back decodable;
pandas reads the `pandas` key, so a nullable integer column stays an integer (`Int8`) instead of
turning into floats. pyarrow and duckdb ignore both and read plain columns. The metadata is built
here from the Arrow types alone (no `datasets` import at run time) and is canonical JSON, so a
rerun writes the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

#: the storage layout of `datasets`' Image and Audio features: encoded file bytes and an optional path
MEDIA = pa.struct([("bytes", pa.binary()), ("path", pa.string())])

# Arrow type -> `datasets` Value dtype, for the plain columns a project table uses
_VALUE_DTYPES = {
    pa.string(): "string",
    pa.bool_(): "bool",
    pa.int8(): "int8",
    pa.int16(): "int16",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.float32(): "float32",
    pa.float64(): "float64",
    pa.binary(): "binary",
}
# Arrow integer type -> pandas' nullable extension dtype
_PANDAS_INTS = {pa.int8(): "Int8", pa.int16(): "Int16", pa.int32(): "Int32", pa.int64(): "Int64"}


def _feature(field: pa.Field, media: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The `datasets` feature dict of one column (its `Features.to_dict()` form)."""
    if field.name in media:
        if not field.type.equals(MEDIA):
            raise TypeError(f"media column {field.name!r} must be stored as {MEDIA}, not {field.type}")
        return dict(media[field.name])
    if pa.types.is_list(field.type):
        inner = _feature(pa.field("item", field.type.value_type), {})
        return {"feature": inner, "_type": "List"}
    dtype = _VALUE_DTYPES.get(field.type)
    if dtype is None:
        raise TypeError(f"column {field.name!r}: no `datasets` feature for Arrow type {field.type}")
    return {"dtype": dtype, "_type": "Value"}


def hf_features(schema: pa.Schema, media: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """`datasets` features for every column; `media` maps a column to its feature (e.g. `{"_type": "Image"}`)."""
    return {f.name: _feature(f, media) for f in schema}


def pandas_columns(schema: pa.Schema, nullable_ints: Sequence[str]) -> list[dict[str, Any]]:
    """pandas metadata entries that make the integer columns `nullable_ints` read as nullable integers."""
    out = []
    for name in nullable_ints:
        field = schema.field(name)
        dtype = _PANDAS_INTS.get(field.type)
        if dtype is None:
            raise TypeError(f"column {name!r} is {field.type}, not an integer")
        out.append({"name": name, "field_name": name, "pandas_type": str(field.type), "numpy_type": dtype,
                    "metadata": None})  # fmt: skip
    return out


def with_native_metadata(
    schema: pa.Schema, media: Mapping[str, dict[str, Any]], nullable_ints: Sequence[str] = ()
) -> pa.Schema:
    """`schema` carrying `datasets` features and pandas dtypes in its metadata (written with the file)."""

    def dump(obj: Any) -> bytes:
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

    meta = {b"huggingface": dump({"info": {"features": hf_features(schema, media)}})}
    if nullable_ints:
        pandas = {"index_columns": [], "column_indexes": [], "columns": pandas_columns(schema, nullable_ints)}
        meta[b"pandas"] = dump(pandas)
    return schema.with_metadata(meta)


def media_cell(data: bytes | None) -> dict[str, Any] | None:
    """One media cell from encoded file bytes (None: the modality is missing)."""
    return None if data is None else {"bytes": data, "path": None}


def media_bytes(column: pa.Array | pa.ChunkedArray) -> list[bytes | None]:
    """The encoded bytes of every cell of a media column (None where the cell is null)."""
    return [None if cell is None else cell["bytes"] for cell in column.to_pylist()]
