"""The label page's position state: Back, forward, relabel, stale presses."""

from labeling.navigator import HISTORY_LIMIT, Navigator


def test_back_walks_the_history_and_forward_returns_to_fresh():
    nav = Navigator(owner=1, history=[10, 11])
    nav.current = 12  # fresh sentence from routing
    assert nav.can_go_back and not nav.revisiting
    nav.back()
    assert (nav.current, nav.pos) == (11, 1) and nav.revisiting
    nav.back()
    assert (nav.current, nav.pos) == (10, 0) and not nav.can_go_back
    nav.back()  # at the oldest answer: stays
    assert nav.current == 10
    nav.forward()
    assert nav.current == 11
    nav.forward()
    assert (nav.current, nav.pos) == (None, None)  # routing gives the held sentence back


def test_acting_on_a_fresh_sentence_records_it_and_relabel_does_not():
    nav = Navigator(owner=1)
    nav.current = 5
    nav.acted(5)
    assert nav.history == [5] and nav.current is None
    nav.current = 6
    nav.back()
    assert nav.current == 5
    nav.acted(5)  # relabel: history unchanged, back to the sentence they had
    assert nav.history == [5] and (nav.current, nav.pos) == (None, None)


def test_history_is_bounded():
    nav = Navigator(owner=1)
    for sid in range(HISTORY_LIMIT + 10):
        nav.current = sid
        nav.acted(sid)
    assert len(nav.history) == HISTORY_LIMIT and nav.history[-1] == HISTORY_LIMIT + 9


def test_stale_and_elapsed():
    nav = Navigator(owner=1)
    nav.current, nav.shown_at = 7, 100.0
    assert nav.is_stale(6) and not nav.is_stale(7)
    assert nav.elapsed_ms(101.25) == 1250
    assert nav.elapsed_ms(99.0) == 0
    assert not Navigator(owner=1).can_go_back
