"""A question import waiting between its preview and its confirmation: sealed in the page."""

from __future__ import annotations

from lti_tool.services.item_bank import QuestionUpload
from lti_tool.services.pending_import import PendingImport, seal, unseal

SECRET = "a-secret-of-more-than-thirty-two-characters"
PENDING = PendingImport(
    organisation_id=3,
    person_id=7,
    upload=QuestionUpload(b"::Q::Sant? {T}\n" * 500, "gift", "nn", competence_ids=[4, 5]),
    fingerprint="abc",
    filename="bank.gift",
)


def test_a_sealed_import_opens_for_its_person_and_organisation_only():
    token = seal(SECRET, PENDING)

    assert unseal(SECRET, token, 3, 7) == PENDING
    assert len(token) < len(PENDING.upload.data) / 10  # compressed: pages stay small
    assert unseal(SECRET, token, 3, 8) is None  # another person
    assert unseal(SECRET, token, 4, 7) is None  # another organisation
    assert unseal("another-secret-of-more-than-thirty-two-chars", token, 3, 7) is None
    changed = "B" if token[-5] == "A" else "A"  # the last character carries only four bits
    assert unseal(SECRET, token[:-5] + changed + token[-4:], 3, 7) is None
    assert unseal(SECRET, "", 3, 7) is None


def test_a_sealed_import_expires():
    token = seal(SECRET, PENDING)

    assert unseal(SECRET, token, 3, 7, max_age=-1) is None
