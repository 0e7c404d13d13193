"""Where an annotator is in their queue: the sentence shown, Back and forward.

Pure state for the label page (kept in Streamlit's session state, no Streamlit or SQL
here). ``history`` holds the sentences the annotator acted on, oldest first; ``pos``
points into it while they revisit earlier answers with Back, and is None while they
work on a fresh sentence from routing. ``current`` None means "ask routing for the
next sentence" (it returns the sentence whose lease they still hold, if any).
"""

from __future__ import annotations

from dataclasses import dataclass, field

HISTORY_LIMIT = 200  # Back reaches this far; older answers stay editable in the CLI


@dataclass
class Navigator:
    """The label page's position for one annotator in one browser session."""

    owner: int
    history: list[int] = field(default_factory=list)
    pos: int | None = None
    current: int | None = None
    shown_at: float = 0.0

    @property
    def revisiting(self) -> bool:
        """True while an earlier answer is shown (after Back)."""
        return self.pos is not None

    @property
    def can_go_back(self) -> bool:
        return bool(self.history) and self.pos != 0

    def is_stale(self, sentence_id: int | None) -> bool:
        """A press rendered for another sentence than the one shown now (dropped)."""
        return sentence_id != self.current

    def elapsed_ms(self, now: float) -> int:
        """Time spent on the shown sentence so far, in milliseconds."""
        return max(0, round((now - self.shown_at) * 1000))

    def back(self) -> None:
        """Step to the previous answered sentence."""
        if not self.can_go_back:
            return
        self.pos = len(self.history) - 1 if self.pos is None else self.pos - 1
        self.current = self.history[self.pos]

    def forward(self) -> None:
        """Step towards the present: the next answered sentence, then the fresh one."""
        if self.pos is None:
            return
        if self.pos + 1 < len(self.history):
            self.pos += 1
            self.current = self.history[self.pos]
        else:
            self.to_fresh()

    def to_fresh(self) -> None:
        """Leave the history: routing decides what comes next."""
        self.pos = None
        self.current = None

    def acted(self, sentence_id: int) -> None:
        """The shown sentence was saved: remember it for Back and move on.

        After relabeling an earlier answer the annotator returns to the sentence they
        had before pressing Back (routing still holds its lease for them)."""
        if self.pos is None:
            if sentence_id in self.history:
                self.history.remove(sentence_id)
            self.history.append(sentence_id)
            del self.history[:-HISTORY_LIMIT]
        self.to_fresh()
