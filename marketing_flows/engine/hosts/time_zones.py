"""Which time zone each person lives in, and which country (for public holidays).

Found in this order: the app's Time Zone field on the person (`mf_time_zone`, added to Contact
and the supported leads); the person's address's country, or the person's own country field,
when that country has one time zone (Frappe's Country knows its zones); else the flow's time
zone (set on the flow, else the site's). A country with several zones (the United States) falls
back to the flow's zone and says so. The one place that knows where a person's clock is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, available_timezones

import frappe
from frappe import _
from frappe.utils import get_system_timezone

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, PersonRow
	from marketing_flows.engine.hosts.doctype_roles import HasFields

PERSON_FIELD = "mf_time_zone"

# where a participant's zone was found (Marketing Flow Participant.time_zone_source)
PERSON, ADDRESS, COUNTRY, FLOW, SITE = "Person", "Address", "Country", "Flow", "Site"


@dataclass(frozen=True)
class PersonZone:
	"""A person's clock: the zone's name, where it was found, the person's country (None: not
	known) and why a country's zone was not taken (several zones)."""

	zone: str
	source: str
	country: str | None = None
	note: str = ""

	def describe(self) -> str:
		"""For the participant's timeline: "Europe/Oslo (from the address's country Norway)"."""
		country = _(self.country) if self.country else ""  # Frappe's catalogue names the countries
		where = {
			PERSON: _("from the person's Time Zone field"),
			ADDRESS: _("from the address's country {0}").format(country),
			COUNTRY: _("from the country {0}").format(country),
			FLOW: _("the flow's time zone"),
			SITE: _("the site's time zone"),
		}[self.source]
		text = f"{self.zone} ({where})"
		return f"{text}: {self.note}" if self.note else text


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
	return frozenset(
		z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "posix/", "right/"))
	)


def all_zones() -> list[str]:
	"""The time zones a person or a flow may be set to (IANA names like Europe/Oslo), sorted."""
	return sorted(_zones() | {"UTC"})


def is_zone(name: str | None) -> bool:
	if not name:
		return False
	if name in _zones() or name == "UTC":
		return True
	try:
		ZoneInfo(name)
	except (ValueError, KeyError, OSError):
		return False
	return "/" in name or name == "UTC"


def zone_problem(name: str | None) -> str | None:
	"""A clear message when `name` is set but is not a time zone."""
	if name and not is_zone(name.strip()):
		return _(
			"'{0}' is not a time zone: use a name like Europe/Oslo, America/New_York or Asia/Singapore."
		).format(name)
	return None


def check_person_zone(doc: HasFields, method: str | None = None) -> None:
	"""Validate hook of the person doctypes: a typed or imported zone must be a real one."""
	value = doc.get(PERSON_FIELD)
	if value and value != value.strip():
		doc.set(PERSON_FIELD, value.strip())  # type: ignore[attr-defined]
	if problem := zone_problem(doc.get(PERSON_FIELD)):
		frappe.throw(problem, title=_("Time Zone"))


def site_zone_name() -> str:
	return get_system_timezone() or "UTC"


def flow_zone(flow: MarketingFlow) -> PersonZone:
	"""The flow's own clock: its Flow Time Zone, else the site's."""
	zone = flow.get("time_zone")
	if zone and is_zone(zone):
		return PersonZone(zone, FLOW)
	return PersonZone(site_zone_name(), SITE)


def uses_person_zones(flow: MarketingFlow) -> bool:
	return (flow.get("times_in") or "Person's Time Zone") == "Person's Time Zone"


def zones_for(flow: MarketingFlow, people: dict[str, PersonRow]) -> dict[str, PersonZone]:
	"""person name -> their clock, for a batch of person rows (all columns) of the flow's
	person doctype: at most three queries for the batch (addresses, linked addresses, countries)."""
	fallback = flow_zone(flow)
	if not uses_person_zones(flow):
		return dict.fromkeys(people, fallback)
	# everyone's country: it gives the zone of those without their own, and the holidays of all
	countries = person_countries(flow.person_doctype, people)
	known = country_zones({c for c, _s in countries.values()})
	found: dict[str, PersonZone] = {}
	for name, row in people.items():
		country, source = countries.get(name, (None, ""))
		own = (row.get(PERSON_FIELD) or "").strip()
		zones = known.get(country or "", [])
		if own and is_zone(own):
			found[name] = PersonZone(own, PERSON, country)
		elif len(zones) == 1:
			found[name] = PersonZone(zones[0], source, country)
		elif country and len(zones) > 1:
			note = _("{0} has several time zones").format(_(country))
			found[name] = PersonZone(fallback.zone, fallback.source, country, note)
		else:
			found[name] = PersonZone(fallback.zone, fallback.source, country)
	return found


def person_countries(doctype: str, people: dict[str, PersonRow]) -> dict[str, tuple[str, str]]:
	"""person name -> (Country name, ADDRESS or COUNTRY) where known: the person's own country
	field, else their address field's, else (a Contact) the primary or first address linked to
	them."""
	if not people:
		return {}
	found: dict[str, tuple[str, str]] = {}
	for name, row in people.items():
		if country := row.get("country"):
			found[name] = (str(country), COUNTRY)
	by_address = {
		name: row.get("address") for name, row in people.items() if name not in found and row.get("address")
	}
	if by_address:
		country_of = dict(
			frappe.get_all(
				"Address",
				filters={"name": ("in", list(set(by_address.values())))},
				fields=["name", "country"],
				as_list=True,
			)
		)
		for name, address in by_address.items():
			if country_of.get(address):
				found[name] = (country_of[address], ADDRESS)
	rest = [name for name in people if name not in found]
	if rest and doctype == "Contact":
		link = frappe.qb.DocType("Dynamic Link")
		address = frappe.qb.DocType("Address")
		rows = (
			frappe.qb.from_(link)
			.join(address)
			.on(address.name == link.parent)
			.select(link.link_name, address.country)
			.where(
				(link.parenttype == "Address")
				& (link.link_doctype == "Contact")
				& link.link_name.isin(rest)
				& address.country.isnotnull()
			)
			.orderby(address.is_primary_address, order=frappe.qb.desc)
			.orderby(address.creation)
			.run()
		)
		for person, country in rows:
			if person not in found and country:
				found[person] = (country, ADDRESS)
	return found


def country_zones(countries: set[str]) -> dict[str, list[str]]:
	"""Country name -> its time zones (Frappe's Country.time_zones), valid ones only."""
	countries = {c for c in countries if c}
	if not countries:
		return {}
	rows = frappe.get_all(
		"Country", filters={"name": ("in", list(countries))}, fields=["name", "time_zones"], as_list=True
	)
	return {
		name: [z.strip() for z in (zones or "").splitlines() if is_zone(z.strip())] for name, zones in rows
	}


def country_code(country: str | None) -> str | None:
	"""ISO 3166 alpha-2 code of a Country (upper case), for the holidays package."""
	if not country:
		return None
	code = frappe.db.get_value("Country", country, "code", cache=True)
	return code.upper() if code else None
