"""One column vocabulary, declared in ``storage/schema.py``: the row Structs of ``types.py``
(explicit classes, for speed and typing) name exactly its columns, in its order, and a
field's default is what ClickHouse stores for a log line that leaves the field out."""

from __future__ import annotations

import ast

import msgspec
import pytest

from liveinsight.storage import schema
from liveinsight.types import EventRow, SessionRow

ROWS = [(EventRow, schema.EVENT_COLUMNS), (SessionRow, schema.SESSION_COLUMNS)]

# What ClickHouse fills an omitted column of each type with, as the Struct field holds it.
_ZEROS: dict[str, object] = {
    "String": "", "LowCardinality(String)": "", "Map(String, String)": {},
    "Int8": 0, "UInt8": 0, "UInt16": 0, "UInt32": 0, "UInt64": 0, "Decimal64(4)": "0",
}


def _default(field: msgspec.structs.FieldInfo) -> object:
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return field.default


@pytest.mark.parametrize(("row", "columns"), ROWS)
def test_a_rows_fields_are_its_tables_columns_in_order(
        row: type[msgspec.Struct], columns: schema.Columns) -> None:
    assert tuple(f.name for f in msgspec.structs.fields(row)) == schema.names(columns)


@pytest.mark.parametrize(("row", "columns"), ROWS)
def test_an_omitted_field_is_stored_as_the_fields_default(
        row: type[msgspec.Struct], columns: schema.Columns) -> None:
    types = dict(columns)
    wrong = []
    for field in msgspec.structs.fields(row):
        if field.required:
            continue  # always written
        if field.name in schema.SEGMENT_DEFAULTS:
            stored = ast.literal_eval(schema.SEGMENT_DEFAULTS[field.name])
        else:
            stored = _ZEROS[types[field.name]]
        default = _default(field)
        if (type(default), default) != (type(stored), stored):
            wrong.append((field.name, default, stored))
    assert wrong == []


def test_every_segment_default_is_an_optional_field() -> None:
    optional = {f.name for row, _ in ROWS for f in msgspec.structs.fields(row)
                if not f.required}
    assert set(schema.SEGMENT_DEFAULTS) <= optional

