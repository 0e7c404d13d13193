"""A worker process of a large export: raw annotation files and/or agreement figures.

``labeling.export`` starts ``python -m labeling.export_worker DB FOLDER OPTIONS TASKS``
while it holds SQLite's write lock for a moment (``db.export.write_gate``); the worker
opens its own connection, takes its read snapshot, prints ``ready``, and from then on
works alone. So every process of the export reads the same data, and a big export uses
both cores. TASKS is a comma-separated list: ``jsonl`` (``annotations.jsonl``), ``csv``
(``annotations.csv``), ``agreement`` (the report). On success the last line of stdout is
``{"agreement": report or null, "digests": {file name: {"bytes", "sha256"}}}`` (the
manifest entries of the files it wrote); on failure the exit code is 1 and stderr says
why. The worker only reads, so it opens the database read-only: it works on a project
whose file or folder cannot be written, and can never change one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the worker; ``argv`` = ``[db_path, folder, options_json, tasks]``."""
    db_path, folder, raw_options, tasks = argv if argv is not None else sys.argv[1:]
    if "agreement" not in tasks.split(",") and argv is None:
        # sqlite-utils imports numpy and pandas when it can (~80 MB per process); a worker
        # that only writes files needs neither, so make them look absent.
        sys.modules["numpy"] = sys.modules["pandas"] = None  # type: ignore[assignment]
    # Only light imports before "ready": the parent holds the write lock until then.
    import db as store
    import db.export as q

    db = store.connect(db_path, readonly=True)
    report = None
    digests = {}
    try:
        with q.snapshot(db) as conn:
            print("ready", flush=True)
            from labeling import export, project

            options = export.options_from_json(raw_options)
            cfg = project.load_config(db)
            for task in tasks.split(","):
                if task == "agreement":
                    report = export.agreement_report(db, options)
                else:
                    export.RAW_TASKS[task](conn, Path(folder), cfg, options)
                    name = export.RAW_TASK_FILES[task]
                    digests[name] = export.file_digest(Path(folder) / name)
    finally:
        db.close()
    print(json.dumps({"agreement": report, "digests": digests}, ensure_ascii=False,
                     allow_nan=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
