"""Segmenting many texts on two cores: the helper process of a big import.

The import is CPU-bound and segmenting is a third of it. For big inputs a helper
process (``python -m labeling.segment_helper``, fed and read by two threads here) segments
chunks of texts ahead of the consumer (two chunks in flight: one being segmented, the next
waiting in the pipe), and the consumer takes the next chunk itself whenever the helper
has not been sent it, so neither side waits for long.

Why not ``concurrent.futures.ProcessPoolExecutor``: its workers start through
``multiprocessing`` (spawn or forkserver), which re-runs the parent's ``__main__`` in
the worker, and while Streamlit runs a page ``sys.modules["__main__"]`` is that page's
script: an import from the Import page would run ``app.py`` again inside the worker. A
plain subprocess of ``python -m`` runs only the helper module.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Iterator

from labeling import segment

# Below this many characters (about 12,000 sentences) one process segments everything:
# starting a helper process costs more than it saves.
PARALLEL_MIN_CHARS = 2_000_000
_CHUNK_CHARS = 200_000  # work unit handed out to either process (~1,200 sentences)
_IN_FLIGHT = 2  # chunks sent to the helper ahead of its answers
_HELPER_TIMEOUT_S = 60.0  # a chunk takes a fraction of a second; past this the helper hung
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding ``labeling``
_HELPER_ARGS = ("-m", "labeling.segment_helper")


class Segmenter:
    """``segment.segment`` over many texts, on two cores when the work is large.

    Results are identical to segmenting
    in-process (the same function, in order); if the helper cannot start, dies or
    hangs, this process does its chunks. Spans are ``(start, end, kind)`` tuples.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._failed = (os.cpu_count() or 1) < 2

    def warm_up(self) -> None:
        """Start the helper now (it takes a moment to import sentencex)."""
        if self._proc is None and not self._failed:
            try:
                # PYTHONPATH: the helper imports this copy of ``labeling``, wherever the
                # parent was started from
                path = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
                self._proc = subprocess.Popen(
                    [sys.executable, *_HELPER_ARGS], env={**os.environ, "PYTHONPATH": path},
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError:
                self._failed = True

    def warm_up_for(self, path: Path) -> None:
        """Start the helper now if ``path`` is big enough to need it: it then starts
        while the file is read."""
        try:
            if path.stat().st_size >= PARALLEL_MIN_CHARS:
                self.warm_up()
        except OSError:
            pass  # the reader reports it

    def spans(self, texts: list[str]) -> Iterator[list[tuple[int, int, str]]]:
        """Spans of every text, in order: computed now for a small input, else streamed."""
        if sum(map(len, texts)) >= PARALLEL_MIN_CHARS:
            self.warm_up()
            if self._proc is not None and not self._failed:
                return self._stream(texts)
        return iter([_local_spans(t) for t in texts])

    def _stream(self, texts: list[str]) -> Iterator[list[tuple[int, int, str]]]:
        chunks = _chunks(texts, _CHUNK_CHARS)
        state = ["todo"] * len(chunks)  # todo -> helper | here -> done (helper: back to todo
        #                                 if it fails)
        results: list[list | None] = [None] * len(chunks)
        cond = threading.Condition()
        sent: deque[int] = deque()  # chunks sent to the helper, answers not yet read
        writing = [True]

        def fail() -> None:
            with cond:
                self._failed = True
                for k in sent:
                    state[k] = "todo"
                sent.clear()
                cond.notify_all()

        def write() -> None:
            # Up to _IN_FLIGHT chunks ahead: the helper starts the next chunk as soon as
            # it has answered, without waiting for this process's threads to get the GIL.
            k = 0
            try:
                while True:
                    with cond:
                        while True:
                            while k < len(chunks) and state[k] != "todo":
                                k += 1
                            if k == len(chunks) or self._failed:
                                return
                            if len(sent) < _IN_FLIGHT:
                                break
                            cond.wait()
                        state[k] = "helper"
                        sent.append(k)
                        cond.notify_all()
                    i, j = chunks[k]
                    try:
                        self._send(texts[i:j])
                    except Exception:  # noqa: BLE001 - any failure: the consumer redoes it
                        fail()
                        return
            finally:
                with cond:
                    writing[0] = False
                    cond.notify_all()

        def read() -> None:
            # A thread of its own: an answer is read while the next chunk is being
            # written, so neither pipe can fill up with both sides waiting.
            while True:
                with cond:
                    while not sent and writing[0]:
                        cond.wait()
                    if not sent:
                        return
                    k = sent[0]
                i, j = chunks[k]
                try:
                    spans = self._receive(j - i)
                except Exception:  # noqa: BLE001 - any failure: the consumer redoes it
                    fail()
                    return
                with cond:
                    if sent and sent[0] == k:  # (not after a failure reset it to todo)
                        sent.popleft()
                        results[k], state[k] = spans, "done"
                        cond.notify_all()

        threads = [threading.Thread(target=write, name="parley-segment-writer", daemon=True),
                   threading.Thread(target=read, name="parley-segment-reader", daemon=True)]
        for thread in threads:
            thread.start()
        try:
            for k in range(len(chunks)):
                waited = 0.0
                while True:
                    with cond:
                        if state[k] == "done":
                            break
                        if state[k] == "todo":
                            job: int | None = k
                        else:  # the helper is on it: do a later chunk meanwhile, or wait
                            job = next((m for m in range(k + 1, len(chunks))
                                        if state[m] == "todo"), None)
                            if job is None:
                                if not cond.wait(timeout=1.0):
                                    waited += 1.0
                                    if waited >= _HELPER_TIMEOUT_S:
                                        self._kill()  # its read fails: the chunk is "todo"
                                continue
                        state[job] = "here"
                    i, j = chunks[job]
                    spans = [_local_spans(t) for t in texts[i:j]]
                    with cond:
                        results[job], state[job] = spans, "done"
                chunk, results[k] = results[k], None
                yield from chunk  # type: ignore[union-attr]
        finally:
            with cond:  # stop the writer claiming more (e.g. the insert failed)
                for k, st in enumerate(state):
                    if st == "todo":
                        state[k] = "here"
                cond.notify_all()
            for thread in threads:
                thread.join(timeout=_HELPER_TIMEOUT_S)
                if thread.is_alive():
                    self._kill()
                    thread.join()

    def _send(self, texts: list[str]) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        pickle.dump(texts, proc.stdin, protocol=5)
        proc.stdin.flush()

    def _receive(self, n_texts: int) -> list[list[tuple[int, int, str]]]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        counts, starts, ends, codes, kinds = pickle.load(proc.stdout)
        if len(counts) != n_texts:
            raise RuntimeError("segment helper answered for the wrong texts")
        rows = list(zip(starts.tolist(), ends.tolist(), [kinds[c] for c in codes],
                        strict=True))
        result, at = [], 0
        for n in counts:
            result.append(rows[at:at + n])
            at += n
        return result

    def _kill(self) -> None:
        self._failed = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        """Stop the helper (end of input, then a kill if it does not exit)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()  # type: ignore[union-attr]


def _local_spans(text: str) -> list[tuple[int, int, str]]:
    return [(sp.start, sp.end, sp.kind) for sp in segment.segment(text)]


def _chunks(texts: list[str], size: int) -> list[tuple[int, int]]:
    """``(start, end)`` index ranges of about ``size`` characters each."""
    ranges, start, chars = [], 0, 0
    for i, text in enumerate(texts):
        chars += len(text)
        if chars >= size:
            ranges.append((start, i + 1))
            start, chars = i + 1, 0
    if start < len(texts):
        ranges.append((start, len(texts)))
    return ranges
