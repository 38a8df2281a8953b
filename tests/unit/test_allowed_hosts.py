"""REGISTRATION_ALLOWED_HOSTS: which private or local hosts the tool may call all the same."""

from __future__ import annotations

import ipaddress

import pytest

from lti_tool.lti.allowed_hosts import NO_HOSTS, parse_allowed_hosts

ip = ipaddress.ip_address


def test_a_named_host_is_admitted_at_any_address_and_no_other_name_is():
    allowed = parse_allowed_hosts(["moodle.kommune.intern"])
    assert allowed.admits("moodle.kommune.intern", ip("10.1.2.3"))
    assert allowed.admits("Moodle.Kommune.Intern.", ip("192.168.0.9"))
    assert not allowed.admits("intranett.kommune.intern", ip("10.1.2.3"))
    assert not allowed.admits("moodle.kommune.intern.evil.example", ip("10.1.2.3"))


def test_a_range_admits_addresses_in_it_whatever_the_name():
    allowed = parse_allowed_hosts(["10.20.0.0/16", "fd00::/8", "[fd12::1]"])
    assert allowed.admits("moodle.kommune.intern", ip("10.20.30.40"))
    assert allowed.admits("10.20.255.1", ip("10.20.255.1"))
    assert not allowed.admits("moodle.kommune.intern", ip("10.21.0.1"))
    assert allowed.admits("moodle6.kommune.intern", ip("fd00::5"))
    assert allowed.admits("fd12::1", ip("fd12::1"))
    # An IPv4 address written as IPv6 (::ffff:a.b.c.d) is the IPv4 address.
    assert allowed.admits("x", ip("::ffff:10.20.1.1"))
    assert not allowed.admits("x", ip("::ffff:10.21.1.1"))


def test_an_empty_list_admits_nothing():
    assert parse_allowed_hosts(["", " "]) == NO_HOSTS
    assert not NO_HOSTS.admits("localhost", ip("127.0.0.1"))


def test_every_bad_entry_is_named():
    with pytest.raises(ValueError, match=r"'http://a\.example'.*'a\.example:80'"):
        parse_allowed_hosts(["ok.example", "http://a.example", "a.example:80"])
