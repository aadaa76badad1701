"""The local engine: DuckDB, embedded, over the table's objects read through boto3 (from moto server, or
from S3 itself).

DuckDB's own S3 support is an extension it would download at run time (these machines have no internet),
so the objects are fetched with boto3 instead, decompressed when gzip (Firehose's) and handed to DuckDB's
built-in JSON reader as one newline-delimited file. DuckDB is an operator tool: it is in
requirements-dev.txt only, never in the Lambda artifact.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lib.query.schema import COLUMNS, ROWS_TABLE, TABLE, view_sql

GZIP_MAGIC = b"\x1f\x8b"
FETCH_THREADS = 8


def table_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every object of the table (Firehose's, backfill's), in key order."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []) if item.get("Size", 1))
    return sorted(keys)


def row_bytes(data: bytes) -> bytes:
    """An object's NDJSON (gunzipped when gzip), ending with a newline."""
    if data[:2] == GZIP_MAGIC:
        data = gzip.decompress(data)
    return data if data.endswith(b"\n") or not data else data + b"\n"


def fetch_rows(s3: Any, bucket: str, keys: list[str]) -> Iterator[bytes]:
    """Each object's rows, in ``keys`` order, fetched side by side."""
    def one(key: str) -> bytes:
        return row_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="table") as pool:
        yield from pool.map(one, keys)


def _json_columns() -> str:
    return "{" + ", ".join(f"'{c.name}': '{c.duckdb_type}'" for c in COLUMNS) + "}"


def connect(rows_file: Path | None) -> Any:
    """A DuckDB connection holding ``events_rows`` (from ``rows_file``; empty without one) and the ``events``
    view over it, as Athena has them."""
    import duckdb

    db = duckdb.connect(":memory:")
    # Trino's json_extract_scalar (a JSON value as varchar), so that the same SQL runs on both engines;
    # json_extract is in both already.
    db.execute("CREATE MACRO json_extract_scalar(document, path) AS json_extract_string(document, path)")
    names = ", ".join(c.name for c in COLUMNS)
    if rows_file is not None and rows_file.stat().st_size:
        db.execute(f"CREATE TABLE {ROWS_TABLE} AS SELECT {names}, CAST(received_at AS DATE) AS dt "  # noqa: S608
                   f"FROM read_json(?, format = 'newline_delimited', columns = {_json_columns()})", [str(rows_file)])
    else:
        typed = ", ".join(f"{c.name} {c.duckdb_type}" for c in COLUMNS)
        db.execute(f"CREATE TABLE {ROWS_TABLE} ({typed}, dt DATE)")
    db.execute(f"CREATE VIEW {TABLE} AS {view_sql(ROWS_TABLE)}")
    return db


def open_table(s3: Any, bucket: str, prefix: str, workdir: Path) -> Any:
    """Fetch every object of the table into ``workdir`` and return a DuckDB connection over it."""
    rows_file = workdir / "events.ndjson"
    with rows_file.open("wb") as out:
        for chunk in fetch_rows(s3, bucket, table_keys(s3, bucket, prefix)):
            out.write(chunk)
    return connect(rows_file)


def run(sql: str, *, s3: Any, bucket: str, prefix: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` over the table; (column names, rows as tuples)."""
    with tempfile.TemporaryDirectory(prefix="mediahook-query-") as workdir:
        db = open_table(s3, bucket, prefix, Path(workdir))
        try:
            cursor = db.execute(sql)
            columns = [d[0] for d in cursor.description or ()]
            return columns, cursor.fetchall()
        finally:
            db.close()
