"""What a requirement line gives the start page to show, made in Python once a line: the
same as the template's own filters made for each of hundreds of lines before."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from lti_tool.services.requirements import Level, RequirementLine

#: The start page's former expression for a bar's width.
WIDTH = Environment(autoescape=True).from_string(
    "{{ [[(100 * value / top)|round|int, 0]|max, 100]|min }}"
)


def line(required: int, current: int, scale: range, roles: tuple[str, ...] = ("A",)) -> Any:
    levels = tuple(Level(v, f"L{v}") for v in scale)
    return RequirementLine(
        competence_id=1,
        code="k1",
        title="K1",
        framework="F",
        framework_version=1,
        required=Level(required, f"L{required}"),
        current=Level(current, f"L{current}") if current else None,
        scale=levels,
        mandatory=True,
        renewal_months=None,
        job_roles=roles,
    )


def test_bar_widths_are_the_templates_rounding_and_bounds():
    for top in (1, 3, 4, 5, 6, 7, 8, 9, 16):
        for value in range(0, top + 3):
            made = line(min(value, top), value, range(1, top + 1))
            assert made.current_percent == int(WIDTH.render(value=value, top=made.top)), (
                value,
                top,
            )
            required = min(value, top)
            assert made.required_percent == int(WIDTH.render(value=required, top=made.top))


def test_a_required_level_beyond_the_scale_widens_it():
    made = line(5, 2, range(1, 5))
    assert made.top == 5 and (made.required_percent, made.current_percent) == (100, 40)


def test_levels_and_roles_read_as_the_table_shows_them():
    made = line(3, 2, range(1, 5), roles=("Sykepleier", "Team <leder> & co"))
    assert made.required.text == "3 – L3" and made.current is not None
    assert made.current.text == "2 – L2"
    assert made.required_by == "Sykepleier, Team <leder> & co"  # escaped where shown
