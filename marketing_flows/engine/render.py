"""Flow content templates rendered in a minimal Jinja sandbox.

Frappe's own Jinja environment exposes `frappe.get_all`, `frappe.db.sql` and friends to every
template; content written by a Flow Content Editor must only see the participant's context
(`contact`, `company`, `participant`, `flow`), so it gets an environment of its own.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment


def _env(autoescape: bool, strict: bool = False) -> ImmutableSandboxedEnvironment:
	env = ImmutableSandboxedEnvironment(
		autoescape=autoescape, undefined=StrictUndefined if strict else ChainableUndefined, auto_reload=False
	)
	env.globals.clear()  # no range(), lipsum(), dict(), cycler(): the context is all there is
	return env


_HTML = _env(autoescape=True)
_TEXT = _env(autoescape=False)


def syntax_error(source: str | None) -> str | None:
	"""None when `source` compiles, else a message with the line of the error."""
	if not source:
		return None
	try:
		_TEXT.parse(source)
	except TemplateSyntaxError as e:
		return f"line {e.lineno}: {e.message}"
	return None


@lru_cache(maxsize=256)
def _compile(source: str, html: bool):
	return (_HTML if html else _TEXT).from_string(source)


def render(source: str | None, context: dict[str, Any], html: bool = False) -> str:
	"""Render `source` with only `context` visible. Compiled templates are cached by source."""
	if not source:
		return ""
	if "{" not in source:
		return source
	return _compile(source, html).render(context)
