"""The worker processes of a large export: both ends of their protocol.

A worker writes raw annotation files and/or computes the agreement figures while the
exporting process writes the dataset files, so a big export uses both cores.

The protocol: the exporting process (:class:`Worker`) starts ``python -m
labeling.export_worker DB FOLDER OPTIONS TASKS`` while it holds SQLite's write lock for a
moment (``db.export.write_gate``); the worker (:func:`main`) opens its own connection,
takes its read snapshot, prints ``ready``, and from then on works alone. So every
process of the export reads the same data. TASKS is a comma-separated list: ``parquet``,
``jsonl``, ``csv`` (``annotations.<task>``), ``agreement`` (the report). On
success the last line of stdout is ``{"agreement": report or null, "digests": {file name:
{"bytes", "sha256"}}}`` (the manifest entries of the files it wrote); on failure the exit
code is 1 and stderr says why. The worker only reads, so it opens the database
read-only: it works on a project whose file or folder cannot be written, and can never
change one.

Only the standard library is imported at the top: this module is also the worker's
``__main__``, which must hold the write lock for as short a time as it can.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labeling.export_options import ExportOptions

_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 60.0  # seconds a worker process may take to start and take its snapshot


class Worker:
    """``python -m labeling.export_worker`` running some tasks ("jsonl", "csv": raw files;
    "agreement": the report) as a child process, stopped by its own PID."""

    def __init__(self, path: str, folder: Path, options: ExportOptions, tasks: list[str]):
        from labeling.export_options import options_to_json

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        # stderr goes to a file: a chatty child can never block on a full pipe
        self.err = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop())
        self.proc = subprocess.Popen(
            # Absolute paths: the child runs in the repository folder, not in ours.
            [sys.executable, "-m", "labeling.export_worker", str(Path(path).resolve()),
             str(Path(folder).resolve()), options_to_json(options), ",".join(tasks)],
            cwd=_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.err, text=True, encoding="utf-8")

    def wait_ready(self) -> None:
        """Return once the child holds its read snapshot ("ready" on its stdout). The
        caller holds the write gate meanwhile, so a child that never answers is stopped
        after ``READY_TIMEOUT`` seconds rather than keep labelers waiting."""
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT)
        if not ready or self.proc.stdout.readline().strip() != "ready":
            try:
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                self._raise()  # reads the child's stderr, which stop() closes
            finally:
                self.stop()

    def _raise(self) -> None:
        from labeling.export_options import ExportError

        self.err.seek(0)
        lines = self.err.read().decode("utf-8", "replace").strip().splitlines()
        raise ExportError("the export worker failed: "
                          + (lines[-1] if lines else f"exit {self.proc.returncode}"))

    def result(self) -> dict[str, Any]:
        """Wait for the child; ``{"agreement": report or None, "digests": {file name:
        file_digest}}`` (the report only if it computed one; digests of the files it
        wrote, hashed there while this process goes on with its own files)."""
        out = self.proc.stdout.read()  # the child writes only "ready" and this line
        self.proc.wait()
        lines = out.strip().splitlines()
        if self.proc.returncode != 0 or not lines:
            self._raise()
        return json.loads(lines[-1])

    def stop(self) -> None:
        """Stop the child if it still runs; release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


def main(argv: list[str] | None = None) -> int:
    """Run the worker; ``argv`` = ``[db_path, folder, options_json, tasks]``."""
    db_path, folder, raw_options, tasks = argv if argv is not None else sys.argv[1:]
    if not {"agreement", "parquet"} & set(tasks.split(",")) and argv is None:
        # sqlite-utils imports numpy and pandas when it can (~80 MB per process); a worker
        # that only writes text files needs neither, so make them look absent.
        sys.modules["numpy"] = sys.modules["pandas"] = None  # type: ignore[assignment]
    # Only light imports before "ready": the parent holds the write lock until then.
    import db as store
    import db.export as export_db

    db = store.connect(db_path, readonly=True)
    report = None
    digests = {}
    try:
        with export_db.snapshot(db) as conn:
            print("ready", flush=True)
            from labeling import export, export_sinks, project
            from labeling.export_options import options_from_json, raw_file
            from labeling.export_publish import file_digest

            options = options_from_json(raw_options)
            cfg = project.load_config(db)
            for task in tasks.split(","):
                if task == "agreement":
                    report = export.agreement_report(db, options)
                else:
                    export_sinks.RAW_TASKS[task](conn, Path(folder), cfg, options)
                    name = raw_file(task)
                    digests[name] = file_digest(Path(folder) / name)
    finally:
        db.close()
    print(json.dumps({"agreement": report, "digests": digests}, ensure_ascii=False,
                     allow_nan=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
