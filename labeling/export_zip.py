"""The whole export as one zip file: the Export page's download."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import db as store
from labeling import export
from labeling.export_options import ExportOptions
from labeling.export_records import Progress
from labeling.export_sinks import BUFFER


def export_zip(db_path: str | os.PathLike, options: ExportOptions | None = None, *,
               progress: Progress | None = None, now: datetime | None = None) -> bytes:
    """The whole export as the bytes of a zip file (the app's download).

    Opens its own connection to ``db_path``: Streamlit runs a download callable on
    another thread, and a connection must not be shared across threads mid-transaction.
    """
    options = (options or ExportOptions()).validated()
    db = store.connect(db_path)
    try:
        with tempfile.TemporaryDirectory(prefix="parley-zip-") as tmp:
            summary = export.write_files(db, tmp, options, progress=progress, now=now,
                                         command=options.command("export"))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED,
                                 compresslevel=6) as zf:
                for name in summary["files"]:
                    # A fixed timestamp: the same data gives the same zip bytes.
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    with open(Path(tmp) / name, "rb") as src, zf.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst, BUFFER)
            return buf.getvalue()
    finally:
        db.close()
