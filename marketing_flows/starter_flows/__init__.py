"""Starter flows: ready flows with their content that a marketer makes a Draft of ("New from
template" on the flow list), one module per starter. Each module's `build(site)` returns a
`Starter` fitted to what this site has (its people, deals, orders, deliveries), or one marked
unavailable with the reason the dialog shows. Every text is an English msgid passed through
`_()` when the starter is built, so the flow, its steps and its emails come in the language of
the user who makes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import frappe
from markupsafe import Markup, escape

# the modules, in the order the dialog shows them
MODULES = (
	"welcome_series",
	"abandoned_cart",
	"review_request",
	"lead_nurturing",
	"event_registration",
	"re_engagement",
)

# the grid starters are laid out on: a column is a node and its gap wide, a row a node and its arrow high
COLUMN = 300
ROW = 140


@dataclass
class Site:
	"""What a starter can build on: the doctypes this site has for the roles a flow uses."""

	person: str  # the default people of new flows (Contact)
	leads: str | None  # a lead doctype flows may enrol (Frappe CRM's first, then ERPNext's)
	deal: str | None  # Marketing Flow Settings' deal doctype
	appointment: str | None  # Settings' appointment doctype (Event)
	# the person doctype's field that stops marketing to them, when the user may set it
	unsubscribed: str | None

	@staticmethod
	def has(doctype: str) -> bool:
		"""The site has `doctype` and the user may read it (a flow may only look at what its
		author reads: validation refuses the others)."""
		return bool(frappe.db.exists("DocType", doctype)) and bool(frappe.has_permission(doctype, "read"))


@dataclass
class Content:
	"""An email or SMS text the starter creates (a Marketing Flow Content); `key` is how its
	steps name it."""

	key: str
	title: str  # the content's name after the flow's: "<flow>: <title>"
	channel: str  # "Email" / "SMS"
	body: str
	subject: str = ""


@dataclass
class Starter:
	key: str
	title: str
	description: str  # one paragraph: what the flow does, why, and what to set before Run
	steps: list[dict[str, Any]]  # Marketing Flow Step rows; `content` names a Content's key
	contents: list[Content] = field(default_factory=list)
	# the flow's other fields: trigger, people, re-enrolment, success criteria, ...
	flow: dict[str, Any] = field(default_factory=dict)
	unavailable: str | None = None  # why this site can't have it (the dialog greys it out)


def at(column: float, row: float) -> dict[str, int]:
	"""A step's place on the designer's canvas, in grid cells from the top left."""
	return {"position_x": int(40 + column * COLUMN), "position_y": int(40 + row * ROW)}


def step(step_id: str, step_type: str, label: str, column: float, row: float, **fields: Any) -> dict:
	"""One step row, placed on the grid."""
	return {"step_id": step_id, "step_type": step_type, "label": label, **at(column, row), **fields}


def paragraphs(*texts: str) -> str:
	"""Simple HTML for an email body: one <p> per text. The texts are translated ones, escaped
	here (a translation may hold a "<" or "&"); a `link()` is HTML already. Jinja placeholders
	in them stay as they are."""
	return "".join(f"<p>{escape(text)}</p>" for text in texts)


def link(url: str, text: str) -> Markup:
	return Markup('<a href="{0}">{1}</a>').format(url, text)


# Jinja placeholders put into translated texts with .format(), so translators never see Jinja
FIRST_NAME = "{{ person.first_name }}"
