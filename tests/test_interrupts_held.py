"""offrl.process.interrupts_held: a first SIGINT/SIGTERM waits for the block, a second stops it at once."""

import io
import os
import signal
import threading

import pytest

from offrl.process import interrupts_held


def test_a_first_interrupt_waits_for_the_block_and_is_reported():
    out, done = io.StringIO(), []
    before = signal.getsignal(signal.SIGINT)
    with interrupts_held("writing the records", out) as held:
        os.kill(os.getpid(), signal.SIGINT)
        done.append("rest of the block")  # reached: the signal was held, not raised
    assert done and held.received and held.signals == [signal.SIGINT]
    assert "SIGINT: stopping once writing the records (a few seconds; send it again to stop now)" in out.getvalue()
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back


def test_sigterm_is_held_as_sigint_is():
    with interrupts_held("x", io.StringIO()) as held:
        os.kill(os.getpid(), signal.SIGTERM)
    assert held.signals == [signal.SIGTERM]


def test_a_second_interrupt_stops_the_block_at_once():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held("x", io.StringIO()):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            reached.append(True)
    assert not reached


def test_no_interrupt_leaves_nothing_received():
    with interrupts_held("x", io.StringIO()) as held:
        pass
    assert not held.received


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_held("x", io.StringIO()) as held:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
        assert not held.received and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_the_block_runs_unguarded():
    seen = {}

    def body():
        with interrupts_held("x", io.StringIO()) as held:
            seen["handler"] = signal.getsignal(signal.SIGINT)
        seen["received"] = held.received

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == {"handler": before, "received": False}
