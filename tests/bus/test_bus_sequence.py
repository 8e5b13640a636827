"""Sequence tracking per origin: gaps, losses, restarts (pure)."""

from ocd.bus.sequence import SeqKind, SequenceTracker


def test_in_order_events_count_no_loss():
    tracker = SequenceTracker()
    kinds = [tracker.observe("a", seq).kind for seq in (1, 2, 3)]
    assert kinds == [SeqKind.FIRST, SeqKind.IN_ORDER, SeqKind.IN_ORDER]
    assert (tracker.gaps, tracker.lost, tracker.restarts) == (0, 0, 0)
    assert tracker.origins["a"].received == 3


def test_a_late_joiner_has_lost_nothing():
    tracker = SequenceTracker()
    assert tracker.observe("a", 57).kind is SeqKind.FIRST
    assert tracker.observe("a", 58).kind is SeqKind.IN_ORDER
    assert tracker.lost == 0


def test_gaps_count_the_missing_events():
    tracker = SequenceTracker()
    for seq in (1, 2):
        tracker.observe("a", seq)
    check = tracker.observe("a", 6)
    assert check.kind is SeqKind.GAP and check.expected == 3 and check.missing == 3
    tracker.observe("a", 8)
    assert (tracker.gaps, tracker.lost) == (2, 4)


def test_restart_is_counted_not_taken_for_loss():
    tracker = SequenceTracker()
    for seq in (1, 2, 3, 1, 2):
        tracker.observe("a", seq)
    assert (tracker.restarts, tracker.lost, tracker.gaps) == (1, 0, 0)
    check = tracker.observe("a", 1)
    assert check.kind is SeqKind.RESTART and check.expected == 3


def test_origins_are_tracked_separately():
    tracker = SequenceTracker()
    tracker.observe("a", 1)
    tracker.observe("b", 1)
    tracker.observe("a", 2)
    tracker.observe("b", 3)
    assert tracker.origins["a"].lost == 0 and tracker.origins["b"].lost == 1


def test_filtered_subscriber_sees_no_false_gaps():
    tracker = SequenceTracker()
    tracker.observe("a@h:1", 1, complete=False)
    assert tracker.observe("a@h:1", 5, complete=False).kind is SeqKind.IN_ORDER  # filtered out
    assert tracker.observe("a@h:1", 2, complete=False).kind is SeqKind.RESTART
    assert (tracker.gaps, tracker.lost, tracker.restarts) == (0, 0, 1)
