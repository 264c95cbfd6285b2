"""Flow content templates rendered in a minimal Jinja sandbox, with bounded work.

Frappe's own Jinja environment exposes `frappe.get_all`, `frappe.db.sql` and friends to every
template; content written by a Flow Content Editor must only see the participant's context
(`contact`, `company`, `participant`, `flow`), so it gets an environment of its own.

The sandbox also bounds what a template can cost a worker, whether or not it prints anything:
- work: every loop round, call (macros, methods), filter applied item by item and item drawn
  from a lazy filter (`map`, `select`, ...) is a step; a render may take `MAX_STEPS` of them
  and `MAX_RENDER_SECONDS` (the clock is read every 1024 steps and at every piece of output;
  in the main thread, where RQ work-horses and sync web workers run, an interval timer also
  interrupts anything else that would run long, e.g. a regular expression);
- size: every operation that can build a large text or list (`~`, `+`, `*`, `%`, `**`, the
  `format` / `center` / `replace` / `join` / ... methods and filters, printing a list) is
  checked BEFORE it runs, from its arguments: one text may have `MAX_OUTPUT_CHARS`, all the
  texts a render builds together `MAX_BUILT_CHARS`, a list `MAX_ITEMS`, a width or
  precision `MAX_WIDTH`, the output `MAX_OUTPUT_CHARS`.
The per-render budget lives in a context variable, so any thread may render. Templates are
compiled so that no filter runs at compile time (constant folding) on the template's own
constants. The same `render()` runs at content save (`problem()`), in the designer's
validation and in the workers.
"""

from __future__ import annotations

import _signal
import collections.abc
import contextvars
import json
import operator
import re
import string
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache, wraps
from typing import TYPE_CHECKING, Any

from frappe import _
from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.filters import make_attrgetter
from jinja2.runtime import markup_join
from jinja2.sandbox import (
	ImmutableSandboxedEnvironment,
	SandboxedEscapeFormatter,
	SandboxedFormatter,
)
from jinja2.utils import _PassArg
from markupsafe import Markup

MAX_OUTPUT_CHARS = 1_000_000  # an email body far beyond any real one; also any one text built
MAX_BUILT_CHARS = 10 * MAX_OUTPUT_CHARS  # all texts and lists one render builds, together
MAX_ITEMS = 100_000  # items of a list built by `+`, `batch`, `slice`, `sum`
MAX_STEPS = 100_000  # loop rounds, calls and lazily filtered items per render
MAX_WIDTH = 10_000  # width / precision in `format`, `%`, `center`, `indent`, ...
MAX_RENDER_SECONDS = 2.0
MAX_POWER = 64  # exponent of `**`
MAX_POWER_BITS = 128  # `**` results beyond this many bits have no place in marketing content
MAX_REPEAT = 10_000  # chars / items `*` may build
MAX_WRAP_WORK = 1_000_000_000  # chars copied by `wordwrap` (quadratic on long words)
_CHECK_EVERY = 1024  # steps between two looks at the clock
_ESCAPED = 6  # an escaped char takes at most this many (`&#34;`); in `repr`: 10 (`\U0001f600`)
_REPR = 10


class RenderError(Exception):
	"""A template that can't be rendered with this context."""


class TemplateLimitError(RenderError):
	"""A template that costs too much whatever the data: too big, too slow, or not allowed."""


# The functions below take what a template hands them (values of the flow's data, a filter's or
# a method's arguments, Jinja's contexts and frames): of any type, so `Any`, checked where used.

# --- the budget of one render --------------------------------------------------------------


class _Budget:
	__slots__ = ("built", "deadline", "next_check", "steps")

	def __init__(self) -> None:
		self.steps = 0
		self.next_check = _CHECK_EVERY
		self.built = 0
		self.deadline = time.monotonic() + MAX_RENDER_SECONDS

	def check(self) -> None:
		if self.steps > MAX_STEPS:
			raise TemplateLimitError(
				_("rendering takes longer than {0} steps (loop rounds and calls)").format(MAX_STEPS)
			)
		if time.monotonic() > self.deadline:
			raise _too_slow()
		self.next_check = self.steps + _CHECK_EVERY


_MAIN_THREAD = threading.main_thread()
_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("mf_render_budget", default=None)


def _too_slow() -> TemplateLimitError:
	return TemplateLimitError(_("rendering takes longer than {0} seconds").format(f"{MAX_RENDER_SECONDS:g}"))


def _step(n: int = 1) -> None:
	budget = _BUDGET.get()
	if budget is not None:
		budget.steps += n
		if budget.steps >= budget.next_check:
			budget.check()


def _counted(iterable: Any) -> Any:
	"""Each item drawn from `iterable` is a step of the render."""
	budget = _BUDGET.get()
	if budget is None:
		yield from iterable
		return
	for item in iterable:
		budget.steps += 1
		if budget.steps >= budget.next_check:
			budget.check()
		yield item


def _builds(size: int, what: str = "text") -> None:
	"""Refuse, before building it, a text (or list) of `size`; count it in the render's budget."""
	if what == "list":
		if size > MAX_ITEMS:
			raise TemplateLimitError(_("the template builds a list of more than {0} items").format(MAX_ITEMS))
	elif size > MAX_OUTPUT_CHARS:
		raise TemplateLimitError(
			_("the template builds a text longer than {0} characters").format(MAX_OUTPUT_CHARS)
		)
	budget = _BUDGET.get()
	if budget is not None:
		budget.built += size
		if budget.built > MAX_BUILT_CHARS:
			raise TemplateLimitError(
				_("the template builds more than {0} characters of text in all").format(MAX_BUILT_CHARS)
			)


def _width(value: Any) -> int:
	"""A width / precision / count argument, refused when too large (other types: 0, Python
	raises its own error)."""
	if isinstance(value, int) and value > MAX_WIDTH:
		raise TemplateLimitError(
			_("a width or precision of {0} is too large (at most {1})").format(value, MAX_WIDTH)
		)
	return value if isinstance(value, int) and value > 0 else 0


_CONTAINERS = (list, tuple, set, frozenset, dict)


def _text_size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
	"""An upper bound of `len(str(value))`; stops counting once past `limit`. A list of one
	big text repeated many times is small in memory but huge once printed."""
	if isinstance(value, str):
		return len(value)
	if isinstance(value, bytes | bytearray):
		return 4 * len(value) + 3
	if isinstance(value, int):
		return value.bit_length() // 3 + 2
	if not isinstance(value, _CONTAINERS):
		return 100  # numbers, dates, Undefined, None: short
	total = 0
	stack = [value]
	while stack:
		item = stack.pop()
		if isinstance(item, str | bytes):
			total += _REPR * len(item) + 3
		elif isinstance(item, dict):
			total += 2 + 4 * len(item)
			if total <= limit:
				stack.extend(item.keys())
				stack.extend(item.values())
		elif isinstance(item, _CONTAINERS):
			total += 2 + 2 * len(item)
			if total <= limit:
				stack.extend(item)
		else:
			total += _text_size(item)
		if total > limit:
			break
	return total


def _printable(value: Any) -> None:
	"""Refuse a value whose text would be too long, before anything turns it into text."""
	if not isinstance(value, str) and _text_size(value) > MAX_OUTPUT_CHARS:
		raise TemplateLimitError(
			_("the template builds a text longer than {0} characters").format(MAX_OUTPUT_CHARS)
		)


# --- size of `%` and `str.format` ----------------------------------------------------------

_PERCENT = re.compile(r"%(?:\(([^)]*)\))?[#0+ -]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.S)


def _percent_size(fmt: Any, args: Any) -> int:
	"""An upper bound of `len(fmt % args)`, refusing large widths and precisions."""
	text = fmt.decode("latin-1") if isinstance(fmt, bytes) else str(fmt)
	escape = 1 if not isinstance(fmt, Markup) else _ESCAPED
	positional = args if isinstance(args, tuple) else (args,)
	mapping = args if isinstance(args, collections.abc.Mapping) else None
	index = 0
	size = len(text)

	def take() -> Any:
		nonlocal index
		index += 1
		return positional[index - 1] if index <= len(positional) else None

	for key, width, precision, conversion in _PERCENT.findall(text):
		if conversion == "%" or not conversion:
			continue
		width = _width(take()) if width == "*" else _width(int(width)) if width else 0
		precision = _width(take()) if precision == "*" else _width(int(precision)) if precision else 0
		if key and mapping is not None:
			value = mapping.get(key) if hasattr(mapping, "get") else None
		else:
			value = take()
		if conversion in "sra":
			length = _text_size(value) * (_REPR if conversion != "s" else escape)
			if precision:
				length = min(length, precision)
		elif conversion in "fFeEgG%":
			length = 320 + precision
		else:
			length = max(_text_size(value), 320) + precision  # digits of an int or a float
		size += max(width, length)
	return size


_SPEC_NUMBERS = re.compile(r"\d+")


if TYPE_CHECKING:
	_Formatting = string.Formatter  # what the class is mixed into (below)
else:
	_Formatting = object


class _BoundedFormatting(_Formatting):
	"""`str.format` / `format_map` with bounded widths, precisions and result."""

	_size = 0

	def convert_field(self, value: Any, conversion: str | None) -> Any:
		if conversion in ("r", "a"):
			if _text_size(value) * _REPR > MAX_OUTPUT_CHARS:
				_builds(MAX_OUTPUT_CHARS + 1)
		return super().convert_field(value, conversion)

	def format_field(self, value: Any, format_spec: str) -> Any:
		for number in _SPEC_NUMBERS.findall(format_spec):
			_width(int(number))
		_printable(value)
		result = super().format_field(value, format_spec)
		self._size += len(result)
		_builds(self._size)
		return result


class _Formatter(_BoundedFormatting, SandboxedFormatter):
	pass


class _EscapeFormatter(_BoundedFormatting, SandboxedEscapeFormatter):
	pass


# --- sizes of methods and filters, from their arguments --------------------------------------


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
	return args[index] if len(args) > index else kwargs.get(name, default)


def _replace_size(s: Any, old: Any, new: Any, count: Any, escape: int = 1) -> int:
	if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
		return len(s)
	times = (
		len(s) + 1
		if not old
		# str.count(bytes) raises, as the call itself would
		else s.count(old)  # type: ignore[arg-type]
		if type(old) is type(s) or isinstance(s, str)
		else 0
	)
	if isinstance(count, int) and count >= 0:
		times = min(times, count)
	return len(s) + times * max(0, len(new) * escape - len(old))


def _join_size(sep: Any, items: Sequence[Any], escape: int = 1) -> int:
	size = max(len(items) - 1, 0) * _text_size(sep) * escape
	for item in items:
		size += _text_size(item) * (1 if hasattr(item, "__html__") else escape)
		if size > MAX_OUTPUT_CHARS:
			break
	return size


def _translate_size(s: Any, table: Any) -> int:
	values = table.values() if isinstance(table, dict) else table if isinstance(table, list | tuple) else ()
	longest = max((len(v) for v in values if isinstance(v, str)), default=1)
	return len(s) * max(longest, 1)


def _checked_method(owner: Any, name: str, args: tuple, kwargs: dict) -> tuple:
	"""Refuse a call of a str / bytes / int method that would build too much; returns the
	arguments to call it with (an iterable given to `join` is read once, here)."""
	escape = _ESCAPED if isinstance(owner, Markup) else 1
	if isinstance(owner, int):
		length = _arg(args, kwargs, 0, "length", 1)
		if name == "to_bytes" and isinstance(length, int):
			_builds(length)
		return args
	if name in ("center", "ljust", "rjust", "zfill"):
		_builds(max(len(owner), _width(_arg(args, kwargs, 0, "width", 0))))
	elif name == "expandtabs":
		tab = "\t" if isinstance(owner, str) else b"\t"
		_builds(len(owner) + owner.count(tab) * _width(_arg(args, kwargs, 0, "tabsize", 8)))
	elif name == "replace":
		old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
		_builds(_replace_size(owner, old, new, _arg(args, kwargs, 2, "count", -1), escape))
	elif name == "join" and args:
		items = list(_counted(args[0])) if not isinstance(args[0], list | tuple) else args[0]
		_builds(_join_size(owner, items, escape))
		return (items, *args[1:])
	elif name == "translate" and isinstance(owner, str):
		_builds(_translate_size(owner, _arg(args, kwargs, 0, "table")))
	return args


def _check_text(value: Any, *args: Any, **kwargs: Any) -> None:
	_printable(value)


def _check_center(value: Any, width: Any = 80) -> None:
	_builds(max(_text_size(value), _width(width)))


def _check_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> None:
	_printable(s)
	pad = len(width) if isinstance(width, str) else _width(width)
	lines = s.count("\n") + 2 if isinstance(s, str) else 2
	_builds(_text_size(s) + lines * pad)


def _check_wordwrap(
	s: Any, width: Any = 79, break_long_words: bool = True, wrapstring: Any = None, *args: Any, **kwargs: Any
) -> None:
	_printable(s)
	if not isinstance(s, str) or not isinstance(width, int):
		return
	width = max(width, 1)
	if len(s) * (len(s) // width + 1) > MAX_WRAP_WORK:
		raise TemplateLimitError(
			_("wrapping {0} characters at width {1} takes too long").format(len(s), width)
		)
	joiner = len(wrapstring) if isinstance(wrapstring, str) else 1
	_builds(len(s) + (2 * len(s) // width + s.count("\n") + 2) * joiner)


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
	_printable(value)
	_builds(_percent_size(str(value), kwargs or args))


def _check_urlize(
	value: Any,
	trim_url_limit: Any = None,
	nofollow: bool = False,
	target: Any = None,
	rel: Any = None,
	**kw: Any,
) -> None:
	size = _text_size(value)
	if size > MAX_OUTPUT_CHARS:
		_builds(size)
	extra = _text_size(target or "") + _text_size(rel or "") + 64
	_builds(3 * size + (size // 2 + 1) * extra)


def _check_urlencode(value: Any) -> None:
	_builds(12 * _text_size(value))  # every char as up to 4 %XX


def _check_batch(value: Any, linecount: Any = 1, fill_with: Any = None) -> None:
	if fill_with is not None and isinstance(linecount, int):
		_builds(linecount, "list")


def _check_slice(value: Any, slices: Any = 1, fill_with: Any = None) -> None:
	if isinstance(slices, int):
		_builds(slices, "list")


# Filters that turn their value into text: a list of a big text repeated is refused first.
_TEXT_FILTERS = frozenset(
	"capitalize e escape forceescape lower upper title trim striptags string safe pprint tojson"
	" xmlattr wordcount filesizeformat".split()
)
_FILTER_CHECKS: dict[str, Callable[..., None]] = {
	"center": _check_center,
	"indent": _check_indent,
	"wordwrap": _check_wordwrap,
	"format": _check_format,
	"urlize": _check_urlize,
	"urlencode": _check_urlencode,
	"batch": _check_batch,
	"slice": _check_slice,
}


def _bounded_filter(name: str, func: Any) -> Any:
	"""`func` checked for size before it runs, and lazy results counted item by item. Every
	filter is a `pass_context` one, so none is run at compile time on constants."""
	pass_arg = _PassArg.from_obj(func)
	check: Callable[..., Any] | None = _FILTER_CHECKS.get(name) or (
		_check_text if name in _TEXT_FILTERS else None
	)
	specials: dict[str, Callable[..., Any]] = {
		"replace": _filter_replace,
		"join": _filter_join,
		"sum": _filter_sum,
	}
	special = specials.get(name)

	@pass_context
	@wraps(func)
	def bounded(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
		if pass_arg is _PassArg.context:
			first: tuple = (context,)
		elif pass_arg is _PassArg.eval_context:
			first = (context.eval_ctx,)
		elif pass_arg is _PassArg.environment:
			first = (context.environment,)
		else:
			first = ()
		if special is not None:
			value = special(context, value, *args, **kwargs)
		elif check is not None:
			check(value, *args, **kwargs)
		result = func(*first, value, *args, **kwargs)
		if isinstance(result, collections.abc.Iterator):
			return _counted(result)
		return result

	# wraps() copied the original's marker; Jinja reads it off the function
	bounded.jinja_pass_arg = _PassArg.context  # type: ignore[attr-defined]
	return bounded


def _filter_replace(context: Any, s: Any, old: Any = None, new: Any = None, count: Any = None) -> Any:
	_printable(s)
	escape = _ESCAPED if context.eval_ctx.autoescape or isinstance(s, Markup) else 1
	text = s if isinstance(s, str) else str(s)
	_builds(_replace_size(text, str(old), str(new), count, escape))
	return s


def _filter_join(context: Any, value: Any, d: Any = "", attribute: Any = None) -> Any:
	items = list(_counted(value))
	values = items if attribute is None else list(map(make_attrgetter(context.environment, attribute), items))
	escape = _ESCAPED if context.eval_ctx.autoescape else 1
	_builds(_join_size(d, values, escape))
	return items


def _filter_sum(context: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
	items = list(_counted(iterable))
	if not isinstance(start, int | float):
		values = (
			items if attribute is None else list(map(make_attrgetter(context.environment, attribute), items))
		)
		total = (
			_text_size(start) if isinstance(start, str) else len(start) if hasattr(start, "__len__") else 0
		)
		total += sum(len(v) for v in values if hasattr(v, "__len__"))
		_builds(total, "list")
		_builds(total * len(values), "list" if total * len(values) <= MAX_ITEMS else "text")
	return items


# --- the sandbox -------------------------------------------------------------------------------


class _BoundedCode(CodeGenerator):
	"""Every `for` loop iterates through `_counted`, every `~` is checked before it joins."""

	def visit_Template(self, node: nodes.Template, frame: Any = None) -> None:
		for loop in node.find_all(nodes.For):
			loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.iter.lineno)
		super().visit_Template(node, frame)

	@optimizeconst
	def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
		if frame.eval_ctx.volatile:
			func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
		elif frame.eval_ctx.autoescape:
			func_name = "markup_join"
		else:
			func_name = "str_join"
		self.write(f"environment.bounded_concat({func_name}, (")
		for arg in node.nodes:
			self.visit(arg, frame)
			self.write(", ")
		self.write("))")


@pass_context
def _counted_filter(context: Any, iterable: Any) -> Any:
	return _counted(iterable)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
	intercepted_binops = frozenset(["**", "*", "+", "%"])
	code_generator_class = _BoundedCode

	def __init__(self, *args: Any, **kwargs: Any) -> None:
		super().__init__(*args, **kwargs)
		self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}
		self.filters["_counted"] = _counted_filter

	def bounded_concat(self, join: Any, parts: tuple) -> Any:
		escape = _ESCAPED if join is markup_join and any(hasattr(p, "__html__") for p in parts) else 1
		size = 0
		for part in parts:
			size += _text_size(part) * (1 if hasattr(part, "__html__") else escape)
		_builds(size)
		return join(parts)

	def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
		_step()
		owner = getattr(obj, "__self__", None)
		if isinstance(owner, str | bytes | int):
			args = _checked_method(owner, obj.__name__, args, kwargs)
		return super().call(context, obj, *args, **kwargs)

	def call_filter(self, name: str, value: Any, *args: Any, **kwargs: Any) -> Any:
		_step()
		return super().call_filter(name, value, *args, **kwargs)

	def call_test(self, name: str, value: Any, *args: Any, **kwargs: Any) -> Any:
		_step()
		return super().call_test(name, value, *args, **kwargs)

	def wrap_str_format(self, value: Any) -> Any:
		"""Jinja's own, with formatters that bound widths, precisions and the result."""
		if not isinstance(value, type("".format)) or value.__name__ not in ("format", "format_map"):
			return None
		f_self = value.__self__  # type: ignore[attr-defined]  # a bound method (checked above)
		if not isinstance(f_self, str):
			return None
		str_type = type(f_self)
		is_format_map = value.__name__ == "format_map"

		def wrapper(*args: Any, **kwargs: Any) -> str:
			formatter = (
				_EscapeFormatter(self, escape=f_self.escape)
				if isinstance(f_self, Markup)
				else _Formatter(self)
			)
			if is_format_map:
				if kwargs:
					raise TypeError("format_map() takes no keyword arguments")
				if len(args) != 1:
					raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
				kwargs = args[0]
				args = ()
			return str_type(formatter.vformat(f_self, args, kwargs))

		wrapper.__name__ = value.__name__
		return wrapper

	def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
		if op == "+":
			if isinstance(left, str | bytes) and isinstance(right, str | bytes):
				escape = _ESCAPED if isinstance(left, Markup) and not hasattr(right, "__html__") else 1
				_builds(len(left) + len(right) * escape)
			elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
				_builds(len(left) + len(right), "list")
			return operator.add(left, right)
		if op == "%":
			if isinstance(left, str | bytes):
				_builds(_percent_size(left, right))
			return operator.mod(left, right)
		if op == "**":
			if isinstance(right, int | float) and abs(right) > MAX_POWER:
				raise TemplateLimitError(
					_("exponent {0} is too large (at most {1})").format(right, MAX_POWER)
				)
			if (
				isinstance(left, int)
				and isinstance(right, int)
				and abs(left).bit_length() * max(right, 0) > MAX_POWER_BITS
			):
				raise TemplateLimitError(_("the number would be too large"))
			return operator.pow(left, right)
		if op == "*":
			for seq, times in ((left, right), (right, left)):
				if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
					if len(seq) * times > MAX_REPEAT:
						raise TemplateLimitError(
							_("repeating would build more than {0} items").format(MAX_REPEAT)
						)
					_builds(len(seq) * max(times, 0), "text" if isinstance(seq, str | bytes) else "list")
			if (
				isinstance(left, int)
				and isinstance(right, int)
				and left.bit_length() + right.bit_length() > 4096
			):
				raise TemplateLimitError(_("the number would be too large"))
			return operator.mul(left, right)
		return super().call_binop(context, op, left, right)


def _json_value(value: Any) -> str:
	"""A value inside a JSON string: quotes, backslashes and control characters escaped, so a
	name like `", "admin": true, "x": "` stays a string."""
	if value is None:
		return ""
	if isinstance(value, bool | int | float):
		return json.dumps(value)
	_printable(value)
	return json.dumps(str(value))[1:-1]


def _finalize(value: Any) -> Any:
	"""Every printed value: a list of a big text repeated is refused before it becomes text."""
	if type(value) is not str:
		_printable(value)
	return value


def _env(autoescape: bool, strict: bool = False, json_values: bool = False) -> _BoundedSandbox:
	env = _BoundedSandbox(
		autoescape=autoescape,
		undefined=StrictUndefined if strict else ChainableUndefined,
		auto_reload=False,
		finalize=_json_value if json_values else _finalize,
	)
	env.globals.clear()  # no range(), lipsum(), dict(), cycler(): the context is all there is
	return env


_HTML = _env(autoescape=True)
_TEXT = _env(autoescape=False)
_JSON = _env(autoescape=False, json_values=True)
_JSON_SHAPE = _env(autoescape=False)
_JSON_SHAPE.finalize = lambda value: "0"  # every value as 0: fits inside a string and as a number


# --- rendering -----------------------------------------------------------------------------


def _on_alarm(signum: int, frame: Any) -> None:
	raise _too_slow()


def _arm_alarm() -> tuple | None:
	"""In the main thread: an interval timer that interrupts the render once it runs too long,
	whatever it is doing (a signal handler runs between bytecodes and inside regular
	expressions). An earlier timer of the caller (RQ's job timeout uses SIGALRM) is kept and
	given back its remaining time. `_signal`, the C module under `signal`: the same calls
	without the enum conversions, about 4 µs per render instead of 15."""
	if threading.current_thread() is not _MAIN_THREAD:
		return None
	previous = _signal.getsignal(_signal.SIGALRM)
	if previous is None:
		return None  # a handler not set from Python: leave it alone
	delay, interval = _signal.getitimer(_signal.ITIMER_REAL)
	limit = MAX_RENDER_SECONDS + 0.5
	if 0 < delay <= limit:
		return None  # the caller's alarm comes first anyway
	_signal.signal(_signal.SIGALRM, _on_alarm)
	_signal.setitimer(_signal.ITIMER_REAL, limit)
	return previous, delay, interval, time.monotonic()


def _disarm_alarm(armed: tuple) -> None:
	previous, delay, interval, started = armed
	_signal.setitimer(_signal.ITIMER_REAL, 0)
	_signal.signal(_signal.SIGALRM, previous)
	if delay > 0:
		_signal.setitimer(_signal.ITIMER_REAL, max(delay - (time.monotonic() - started), 0.001), interval)


def _run(template: Any, context: dict[str, Any]) -> str:
	"""Render with this render's budget of steps, sizes and time."""
	budget = _Budget()
	token = _BUDGET.set(budget)
	armed = _arm_alarm()
	parts: list[str] = []
	size = 0
	try:
		for chunk in template.generate(context):
			parts.append(chunk)
			size += len(chunk)
			if size > MAX_OUTPUT_CHARS:
				raise TemplateLimitError(
					_("the rendered text is longer than {0} characters").format(MAX_OUTPUT_CHARS)
				)
			if time.monotonic() > budget.deadline:
				raise _too_slow()
	except RecursionError as e:
		raise TemplateLimitError(_("the template nests calls too deeply")) from e
	except SecurityError as e:
		raise TemplateLimitError(_("not allowed in a template: {0}").format(e)) from e
	except TemplateError as e:
		raise RenderError(str(e)) from e
	finally:
		if armed is not None:
			_disarm_alarm(armed)
		_BUDGET.reset(token)
	return "".join(parts)


def json_shape_problem(source: str | None) -> str | None:
	"""Is `source` JSON once its values are filled in? Every placeholder is rendered as 0 (valid
	inside a JSON string and as a number), so the answer does not depend on anyone's data."""
	if not source:
		return None
	try:
		json.loads(_run(_JSON_SHAPE.from_string(source), {}))
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
	try:
		template = _compile(source, kind)
	except RecursionError as e:
		raise TemplateLimitError(_("the template nests calls too deeply")) from e
	except TemplateError as e:
		raise RenderError(str(e)) from e
	return _run(template, context)
