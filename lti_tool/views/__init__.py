"""The blueprints, one per area; what they share is here."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from werkzeug.routing import IntegerConverter

from lti_tool.db import MAX_INT


def digits_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 0 to ``limit`` (leading zeros allowed
    within ``limit``'s length)."""
    text = str(limit)
    choices = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        if digit != "0":
            rest = len(text) - i - 1
            choices.append(text[:i] + f"[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    choices.append(text)
    return "(?:" + "|".join(choices) + ")"


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route (registered as ``int``): a number beyond what an
    ``Integer`` column holds does not match the route at all (404), instead of reaching
    the database, which would refuse the query (500). In the pattern, not only in
    ``to_python``: Werkzeug answers 405 when a path's other-method rule matched first."""

    regex = digits_up_to(MAX_INT)


#: Letters NFKD leaves whole, as Norwegian writes them without the letter (å decomposes).
_NOT_DECOMPOSED = str.maketrans({"æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "ß": "ss"})


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` that downloads as ``filename``, letters like æøå kept:
    RFC 6266's ``filename*`` in UTF-8 beside a plain ASCII ``filename`` for old clients
    (as Werkzeug's ``send_file`` writes it; a header's bytes may not carry UTF-8)."""
    folded = unicodedata.normalize("NFKD", filename.translate(_NOT_DECOMPOSED))
    plain = folded.encode("ascii", "ignore").decode()
    if plain == filename:
        return f'attachment; filename="{filename}"'
    utf8 = quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{utf8}"
