"""The probe's connection cutter (``db.answering_session``) shuts down the socket it was
handed, through a duplicate of its own: never a socket that took over the number after the
connection's own descriptor was closed (a lost connection is dropped at once)."""

from __future__ import annotations

import socket
import time

from lti_tool import db


def test_the_cut_reaches_the_socket_handed_over_and_no_other():
    handed, its_server = socket.socketpair()
    cutter = db._ConnectionCutter(0.3)
    cutter.watch(handed.fileno())
    handed.close()  # the connection dropped: its number free for the next socket
    other, other_peer = socket.socketpair()
    try:
        time.sleep(0.6)  # past the deadline
        its_server.settimeout(2)
        assert its_server.recv(1) == b""  # cut: the server's end sees it go
        other.sendall(b"x")  # the socket that came after, whatever its number, untouched
        other_peer.settimeout(2)
        assert other_peer.recv(1) == b"x"
    finally:
        cutter.stop()
        for end in (its_server, other, other_peer):
            end.close()


def test_a_stopped_cutter_cuts_nothing():
    handed, its_server = socket.socketpair()
    cutter = db._ConnectionCutter(0.2)
    cutter.watch(handed.fileno())
    cutter.stop()
    time.sleep(0.4)
    handed.sendall(b"x")
    its_server.settimeout(2)
    assert its_server.recv(1) == b"x"
    handed.close()
    its_server.close()


def test_a_socket_given_back_is_not_cut_and_one_taken_late_is_cut_at_once():
    given_back, its_server = socket.socketpair()
    late, late_server = socket.socketpair()
    cutter = db._ConnectionCutter(0.2)
    cutter.watch(given_back.fileno())
    assert cutter.release(given_back.fileno()) is False  # before the deadline: not cut
    time.sleep(0.4)
    cutter.watch(late.fileno())  # taken after the deadline
    try:
        given_back.sendall(b"x")
        its_server.settimeout(2)
        assert its_server.recv(1) == b"x"  # whole
        late_server.settimeout(2)
        assert late_server.recv(1) == b""  # cut as it was handed over
        assert cutter.seconds_left() == 0.0
        assert cutter.release(late.fileno()) is True  # cut: not to be kept
    finally:
        cutter.stop()
        for end in (given_back, its_server, late, late_server):
            end.close()


def test_a_probe_connection_is_begun_only_within_what_is_left_of_its_deadline():
    """connect_timeout: what is left (at least libpq's 2 s), or less if the URL gives
    less; a URL's 0 (libpq's "none": 130 s an attempt) is not kept; past it, none."""
    import pytest

    cutter = db._ConnectionCutter(3.5)
    handed = db._CUTTER.set(cutter)
    try:
        for given, expected in [(None, 4), ("0", 4), ("2", 2), (5, 4)]:
            params = {} if given is None else {"connect_timeout": given}
            db._connect_within_deadline(None, None, (), params)
            assert params["connect_timeout"] == expected, given
    finally:
        db._CUTTER.reset(handed)
        cutter.stop()
    late = db._ConnectionCutter(0.05)
    handed = db._CUTTER.set(late)
    try:
        time.sleep(0.2)
        with pytest.raises(TimeoutError):
            db._connect_within_deadline(None, None, (), {})
    finally:
        db._CUTTER.reset(handed)
        late.stop()
