"""Compile once per test run what each new app would compile again.

The tests make a new app for nearly every test (and a few per test for several workers or
hosts). Three things an app compiles do not depend on the app at all; compiling them for
each app was over half of a test's time. Each is shared as the same code a new app would
compile, so nothing the tests see changes.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.routing.rules import Rule


def compile_once() -> None:
    _share_rule_parts()
    _share_url_builders()
    _share_templates()


def _share_rule_parts() -> None:
    """Werkzeug parses every rule's path into its parts (regular expressions, weights and
    converters) when an app registers it: half of ``create_app`` once the builders below
    are shared. The parts depend only on the rule's path, its host or subdomain, and the
    map's converters (all apps register the same) and the names of its defaults (its
    arguments with the path's variables), so a rule parsed once is handed to each later
    app's rule as copies of the same lists. The parts are frozen dataclasses; the
    converters keep nothing of their map but the reference (``BaseConverter.__init__``),
    which no converter of the tool reads."""
    compile_rule = Rule.compile
    parsed: dict[Any, Any] = {}

    def shared(rule: Rule) -> None:
        url_map = rule.map
        assert url_map is not None, "rule not bound"
        key = (
            rule.rule,
            rule.host,
            rule.subdomain,
            rule.merge_slashes,
            url_map.host_matching,
            tuple(sorted(url_map.converters.items())),
            tuple(sorted(map(str, rule.defaults or {}))),  # among the rule's arguments
        )
        found = parsed.get(key)
        if found is None:
            compile_rule(rule)
            parsed[key] = (
                tuple(rule._parts),
                tuple(rule._trace),
                dict(rule._converters),
                frozenset(rule.arguments),
            )
            return
        parts, trace, converters, arguments = found
        rule._parts = list(parts)
        rule._trace = list(trace)
        rule._converters = dict(converters)
        rule.arguments = set(arguments)
        rule._build = rule._compile_builder(False).__get__(rule, None)  # type: ignore[method-assign]
        rule._build_unknown = rule._compile_builder(True).__get__(rule, None)  # type: ignore[method-assign]

    Rule.compile = shared  # type: ignore[method-assign]


def _share_url_builders() -> None:
    """Werkzeug turns every rule into two Python functions (``url_for``'s builders) with
    ``ast`` and ``compile()`` when an app registers it: 220 routes, two thirds of
    ``create_app``. The code depends only on the rule's parts and the names of its
    defaults (converters are reached through the rule when it runs), so one rule always
    compiles to the same function, which each app's rule binds to itself as before."""
    compile_builder = Rule._compile_builder
    built: dict[Any, Any] = {}

    def shared(rule: Rule, append_unknown: bool = True) -> Any:
        defaults = rule.defaults or {}
        if defaults and any(dynamic and name in defaults for dynamic, name in rule._trace):
            # a default fills a part of the path: its text comes from the converter
            return compile_builder(rule, append_unknown)
        key = (rule.rule, append_unknown, tuple(rule._trace), tuple(defaults))
        if key not in built:
            built[key] = compile_builder(rule, append_unknown)
        return built[key]

    Rule._compile_builder = shared  # type: ignore[method-assign]


class _SharedTemplates(BytecodeCache):
    """Jinja's cache of compiled templates, kept in memory for every app of the run (Jinja
    checks each template's source against the checksum the code was compiled from)."""

    def __init__(self) -> None:
        self.code: dict[tuple[str, str | None], Any] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        bucket.code = self.code.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[(bucket.key, bucket.checksum)] = bucket.code


def _share_templates() -> None:
    """Every app's Jinja environment is configured alike (same factory, same extensions),
    so a template compiles to the same code in each."""
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _SharedTemplates()}
