"""Job roles and their profiles as JSON: read and write.

```
{"format": "laeringslop-job-roles", "version": 1,
 "job_roles": [{"code": "sykepleier", "title": {"nb": …}, "description": {…},
                "archived": false,
                "requirements": [{"framework": "legemiddelhandtering", "framework_version": 1,
                                  "competence": "LM-01", "required_level": 3,
                                  "mandatory": true, "renewal_months": 24}]}]}
```
Competences are named by framework code, version number and competence code, so a file
moves between organisations. Checking that they exist is the service's job.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from flask_babel import lazy_gettext

from lti_tool.db import MAX_INT
from lti_tool.domain.requirements import MAX_RENEWAL_MONTHS
from lti_tool.domain.texts import MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH
from lti_tool.interchange.model import (
    DESCRIPTION_TOO_LONG,
    MAX_IMPORT_ITEMS,
    MAX_LEVELS,
    TITLE_TOO_LONG,
    Problem,
    at_field,
    code_problem,
    read_json,
    text_of,
    text_problems,
)

FORMAT = "laeringslop-job-roles"


@dataclasses.dataclass
class RequirementData:
    framework: str
    framework_version: int
    competence: str
    required_level: int
    mandatory: bool
    renewal_months: int | None
    where: Any = None


@dataclasses.dataclass
class JobRoleData:
    code: str
    title: dict[str, str]
    description: dict[str, str] = dataclasses.field(default_factory=dict)
    archived: bool = False
    requirements: list[RequirementData] = dataclasses.field(default_factory=list)
    where: Any = None


#: The whole numbers of a requirement and the ranges they must be in: a version number
#: (stored as an integer), a level on a scale (numbered from 1, ``MAX_LEVELS`` at most),
#: and a renewal period (or null, none).
RANGES = {
    "framework_version": (1, MAX_INT),
    "required_level": (1, MAX_LEVELS),
    "renewal_months": (1, MAX_RENEWAL_MONTHS),
}
#: The numbers that may be null.
OPTIONAL = frozenset({"renewal_months"})


def _number(
    raw: dict[str, Any], field: str, path: str, low: int, high: int, problems: list[Problem]
) -> int | None:
    """``raw[field]`` when it is a whole number from ``low`` to ``high`` (or null where
    that is allowed); else None, and a problem naming ``path``."""
    value = raw.get(field)
    if value is None and field in OPTIONAL:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    if field in OPTIONAL:
        message = lazy_gettext(
            "a whole number from %(low)s to %(high)s, or null, is needed", low=low, high=high
        )
    else:
        message = lazy_gettext(
            "a whole number from %(low)s to %(high)s is needed", low=low, high=high
        )
    problems.append(Problem(at_field(path), message))
    return None


def parse(data: bytes) -> tuple[list[JobRoleData], list[Problem]]:
    document, problems = read_json(data)
    if problems:
        return [], problems
    roles = document.get("job_roles") if isinstance(document, dict) else None
    if not isinstance(roles, list):
        return [], [Problem(at_field("job_roles"), lazy_gettext("a list of job roles is needed"))]
    if (
        sum(len(r.get("requirements") or []) for r in roles if isinstance(r, dict))
        > (MAX_IMPORT_ITEMS)
        or len(roles) > MAX_IMPORT_ITEMS
    ):
        return [], [
            Problem(
                "",
                lazy_gettext(
                    "The file holds more than %(max)s job roles or requirements.",
                    max=MAX_IMPORT_ITEMS,
                ),
            )
        ]
    result: list[JobRoleData] = []
    codes: dict[str, str] = {}
    for number, raw in enumerate(roles):
        path = f"job_roles[{number}]"
        if not isinstance(raw, dict):
            problems.append(Problem(at_field(path), lazy_gettext("a job role must be an object")))
            continue
        raw_code = raw.get("code")
        code = raw_code.strip() if isinstance(raw_code, str) else ""
        wrong = code_problem(code)
        if wrong is not None:
            problems.append(Problem(at_field(f"{path}.code"), wrong))
        elif code in codes:
            problems.append(
                Problem(
                    at_field(f"{path}.code"),
                    lazy_gettext(
                        "the code %(code)s is used twice (also at %(other)s)",
                        code=code,
                        other=codes[code],
                    ),
                )
            )
        else:
            codes[code] = path
        title = text_of(raw.get("title"))
        if not title:
            problems.append(
                Problem(at_field(f"{path}.title"), lazy_gettext("the job role has no title"))
            )
        description = text_of(raw.get("description"))
        problems += text_problems(
            at_field(f"{path}.title"), title, MAX_TITLE_LENGTH, TITLE_TOO_LONG
        )
        problems += text_problems(
            at_field(f"{path}.description"),
            description,
            MAX_DESCRIPTION_LENGTH,
            DESCRIPTION_TOO_LONG,
        )
        role = JobRoleData(
            code=code,
            title=title,
            description=description,
            archived=raw.get("archived") is True,
            where=at_field(path),
        )
        requirements = raw.get("requirements") or []
        if not isinstance(requirements, list):
            problems.append(
                Problem(at_field(f"{path}.requirements"), lazy_gettext("must be a list"))
            )
            requirements = []
        for index, req in enumerate(requirements):
            parsed = _requirement(req, f"{path}.requirements[{index}]", problems)
            if parsed is not None:
                role.requirements.append(parsed)
        result.append(role)
    return result, problems


def _requirement(raw: Any, path: str, problems: list[Problem]) -> RequirementData | None:
    if not isinstance(raw, dict):
        problems.append(Problem(at_field(path), lazy_gettext("a requirement must be an object")))
        return None
    found = len(problems)
    texts = {}
    for field in ("framework", "competence"):
        value = raw.get(field)
        if not isinstance(value, str) or not value.strip():
            problems.append(
                Problem(at_field(f"{path}.{field}"), lazy_gettext("required, and missing or empty"))
            )
        else:
            texts[field] = value.strip()
    numbers = {}
    for field, (low, high) in RANGES.items():
        value = _number(raw, field, f"{path}.{field}", low, high, problems)
        if value is not None:
            numbers[field] = value
    mandatory = raw.get("mandatory", True)
    if not isinstance(mandatory, bool):
        problems.append(
            Problem(at_field(f"{path}.mandatory"), lazy_gettext("true or false is needed"))
        )
    if len(problems) > found:
        return None
    return RequirementData(
        framework=texts["framework"],
        framework_version=numbers["framework_version"],
        competence=texts["competence"],
        required_level=numbers["required_level"],
        mandatory=bool(mandatory),
        renewal_months=numbers.get("renewal_months"),
        where=at_field(path),
    )


def dump(roles: list[JobRoleData]) -> bytes:
    document = {
        "format": FORMAT,
        "version": 1,
        "job_roles": [
            {
                "code": role.code,
                "title": role.title,
                "description": role.description,
                "archived": role.archived,
                "requirements": [
                    {
                        "framework": r.framework,
                        "framework_version": r.framework_version,
                        "competence": r.competence,
                        "required_level": r.required_level,
                        "mandatory": r.mandatory,
                        "renewal_months": r.renewal_months,
                    }
                    for r in role.requirements
                ],
            }
            for role in roles
        ],
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
