"""SQLite storage for Parley.

All SQL of the project lives in this package, behind named functions that return
plain dicts, lists or DataFrames. Callers never see cursors.
"""

from db.connection import (Database, DatabaseError, DiskFull, ReadOnlyDatabase, connect,
                           write_transaction)
from db.migrations import migrate, NewerDatabase, SCHEMA_VERSION

__all__ = [
    "Database",
    "connect",
    "write_transaction",
    "migrate",
    "SCHEMA_VERSION",
    "DatabaseError",
    "ReadOnlyDatabase",
    "DiskFull",
    "NewerDatabase",
]
