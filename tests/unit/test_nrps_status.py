"""A member's status as the roster keeps it, whatever the platform sends."""

from lti_tool.lti.nrps import _status


def test_statuses_are_read_from_short_names_and_uris():
    assert _status("Active") == "active"
    assert _status("http://purl.imsglobal.org/vocab/lis/v2/status#Inactive") == "inactive"
    assert _status(None) == "active"


def test_an_unknown_long_status_is_cut_to_what_the_roster_keeps():
    assert _status("Suspended" * 10) == ("suspended" * 10)[:20]
