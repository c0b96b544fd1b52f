"""Arrow schema unification: one schema for Parquet parts whose column types differ."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stance.io.files import pyarrow_modules
from stance.io.serialise import as_text


class CastFailed(Exception):
    """A part's ``column`` does not fit the unified type: store that column as text."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def unify_schemas(schemas: list[Any], as_text: Iterable[str]) -> Any:
    """One schema for all parts: types promoted where possible, else stored as text."""
    pa, _ = pyarrow_modules()
    as_text = set(as_text)
    first = schemas[0]
    if not as_text and all(s.equals(first, check_metadata=True) for s in schemas[1:]):
        return first
    names: list[str] = []
    for schema in schemas:
        names.extend(name for name in schema.names if name not in names)
    fields = []
    for name in names:
        types = []
        for schema in schemas:
            if name in schema.names:
                kind = schema.field(name).type
                if not any(kind.equals(t) for t in types):
                    types.append(kind)
        if name in as_text:
            kind = pa.string()
        elif len(types) == 1:
            kind = types[0]
        else:
            single = [pa.schema([pa.field(name, t)]) for t in types]
            try:
                kind = pa.unify_schemas(single, promote_options="permissive").field(name).type
            except (pa.ArrowException, ValueError, TypeError):
                kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)  # pandas metadata dropped: it would not match mixed parts


def conform(table: Any, schema: Any) -> Any:
    """Cast one part to ``schema``, adding all-null columns it lacks."""
    pa, _ = pyarrow_modules()
    if table.schema.equals(schema, check_metadata=True):
        return table
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                if not pa.types.is_string(field.type):
                    raise CastFailed(field.name) from exc
                values = [as_text(v) for v in column.to_pylist()]
                column = pa.array(values, type=pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)
