"""Flow content templates rendered in a minimal Jinja sandbox, with bounded work.

Frappe's own Jinja environment exposes `frappe.get_all`, `frappe.db.sql` and friends to every
template; content written by a Flow Content Editor must only see the participant's context
(`contact`, `company`, `participant`, `flow`), so it gets an environment of its own. The
sandbox also bounds what a template can cost a worker: `**` and `*` can't build huge numbers
or strings, the output has a size limit and rendering a time limit (checked as the output is
produced, so no signal is needed and it works in any thread).
"""

from __future__ import annotations

import json
import operator
import time
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 1_000_000  # an email body far beyond any real one
MAX_RENDER_SECONDS = 2.0
MAX_POWER = 64  # exponent of `**`
MAX_POWER_BITS = 128  # `**` results beyond this many bits have no place in marketing content
MAX_REPEAT = 10_000  # chars / items `*` may build


class RenderError(Exception):
	"""A template that can't be rendered with this context."""


class TemplateLimitError(RenderError):
	"""A template that costs too much whatever the data: too big, too slow, or not allowed."""


class _BoundedSandbox(ImmutableSandboxedEnvironment):
	intercepted_binops = frozenset(["**", "*"])

	def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
		if op == "**":
			if isinstance(right, int | float) and abs(right) > MAX_POWER:
				raise SecurityError(f"exponent {right} is too large (at most {MAX_POWER})")
			if (
				isinstance(left, int)
				and isinstance(right, int)
				and abs(left).bit_length() * max(right, 0) > MAX_POWER_BITS
			):
				raise SecurityError("the number would be too large")
			return operator.pow(left, right)
		if op == "*":
			for seq, times in ((left, right), (right, left)):
				if (
					isinstance(seq, str | list | tuple)
					and isinstance(times, int)
					and len(seq) * times > MAX_REPEAT
				):
					raise SecurityError(f"repeating would build more than {MAX_REPEAT} items")
			if (
				isinstance(left, int)
				and isinstance(right, int)
				and left.bit_length() + right.bit_length() > 4096
			):
				raise SecurityError("the number would be too large")
			return operator.mul(left, right)
		return super().call_binop(context, op, left, right)


def _json_value(value: Any) -> str:
	"""A value inside a JSON string: quotes, backslashes and control characters escaped, so a
	name like `", "admin": true, "x": "` stays a string."""
	if value is None:
		return ""
	if isinstance(value, bool | int | float):
		return json.dumps(value)
	return json.dumps(str(value))[1:-1]


def _env(autoescape: bool, strict: bool = False, json_values: bool = False) -> _BoundedSandbox:
	env = _BoundedSandbox(
		autoescape=autoescape,
		undefined=StrictUndefined if strict else ChainableUndefined,
		auto_reload=False,
		finalize=_json_value if json_values else None,
	)
	env.globals.clear()  # no range(), lipsum(), dict(), cycler(): the context is all there is
	return env


_HTML = _env(autoescape=True)
_TEXT = _env(autoescape=False)
_JSON = _env(autoescape=False, json_values=True)
_JSON_SHAPE = _env(autoescape=False)
_JSON_SHAPE.finalize = lambda value: "0"  # every value as 0: fits inside a string and as a number


def json_shape_problem(source: str | None) -> str | None:
	"""Is `source` JSON once its values are filled in? Every placeholder is rendered as 0 (valid
	inside a JSON string and as a number), so the answer does not depend on anyone's data."""
	if not source:
		return None
	try:
		json.loads(_JSON_SHAPE.from_string(source).render({}))
	except ValueError as e:
		return str(e)
	except Exception:
		return None  # not a JSON question (e.g. a filter that needs data): checked when it runs
	return None


def syntax_error(source: str | None) -> str | None:
	"""None when `source` compiles, else a message with the line of the error."""
	if not source:
		return None
	try:
		_TEXT.parse(source)
	except TemplateSyntaxError as e:
		return f"line {e.lineno}: {e.message}"
	return None


def problem(source: str | None, sample: dict[str, Any] | None = None) -> str | None:
	"""Why `source` can't be used (syntax, or a trial render with an empty or sample context
	that is too big, too slow or not allowed: `{{ 9**9**9 }}`), else None. Asked at save."""
	if err := syntax_error(source):
		return err
	if not source or "{" not in source:
		return None
	try:
		render(source, sample or {})
	except TemplateLimitError as e:
		return str(e)
	except Exception:
		return None  # data-dependent errors (arithmetic on a missing value) show at send time
	return None


@lru_cache(maxsize=256)
def _compile(source: str, kind: str):
	return {"html": _HTML, "text": _TEXT, "json": _JSON}[kind].from_string(source)


def render(source: str | None, context: dict[str, Any], html: bool = False, json_values: bool = False) -> str:
	"""Render `source` with only `context` visible. Compiled templates are cached by source.
	`json_values` escapes every value for use inside a JSON string (webhook bodies)."""
	if not source:
		return ""
	if "{" not in source:
		return source
	kind = "html" if html else "json" if json_values else "text"
	started = time.monotonic()
	parts: list[str] = []
	size = 0
	try:
		for chunk in _compile(source, kind).generate(context):
			parts.append(chunk)
			size += len(chunk)
			if size > MAX_OUTPUT_CHARS:
				raise TemplateLimitError(f"the rendered text is longer than {MAX_OUTPUT_CHARS} characters")
			if time.monotonic() - started > MAX_RENDER_SECONDS:
				raise TemplateLimitError(f"rendering took longer than {MAX_RENDER_SECONDS:g} seconds")
	except SecurityError as e:
		raise TemplateLimitError(f"not allowed in a template: {e}") from e
	except TemplateError as e:
		raise RenderError(str(e)) from e
	return "".join(parts)
