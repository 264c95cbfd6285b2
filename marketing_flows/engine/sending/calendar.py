"""Days on which a flow that skips holidays sends nothing: the public holidays of the person's
country (the `holidays` package, which keeps each country's rules and moving feasts) and the
company's own calendar (Settings' Company Holidays, and ERPNext's Holiday List when one is named
in Settings and ERPNext is installed)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import getdate

from marketing_flows.engine.hosts import time_zones

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowSettings

COUNTRY, COMPANY, BOTH = "Person's Country", "Company Calendar", "Both"
ERPNEXT_HOLIDAY_LIST = "Holiday List"


@lru_cache(maxsize=512)
def public_holidays(code: str, year: int) -> dict[date, str]:
	"""date -> name of the public holidays of the country with ISO code `code` in `year`; empty
	for a country the package does not know."""
	import holidays  # imported on first use: flows without holidays never load it

	try:
		return dict(holidays.country_holidays(code, years=year).items())
	except (NotImplementedError, KeyError, AttributeError):
		return {}


def company_holidays(settings: MarketingFlowSettings) -> dict[date, str]:
	"""The company's own days off: Settings' Company Holidays and the ERPNext Holiday List."""
	days = {
		getdate(row.holiday_date): row.description or _("Company holiday")
		for row in settings.get("company_holidays") or []
		if row.holiday_date
	}
	listed = settings.get("holiday_list")
	if listed and frappe.db.exists("DocType", ERPNEXT_HOLIDAY_LIST):
		for day, description in frappe.get_all(
			"Holiday",
			filters={"parenttype": ERPNEXT_HOLIDAY_LIST, "parent": listed},
			fields=["holiday_date", "description"],
			as_list=True,
		):
			days.setdefault(getdate(day), frappe.utils.strip_html(description or "") or _("Company holiday"))
	return days


def holiday_list_problem(settings: MarketingFlowSettings) -> str | None:
	"""A clear message when Settings name a Holiday List that can't be read."""
	listed = settings.get("holiday_list")
	if not listed:
		return None
	if not frappe.db.exists("DocType", ERPNEXT_HOLIDAY_LIST):
		return _("ERPNext Holiday List: ERPNext is not installed on this site; use Company Holidays instead.")
	if not frappe.db.exists(ERPNEXT_HOLIDAY_LIST, listed):
		return _("ERPNext Holiday List: there is no Holiday List named '{0}'.").format(listed)
	return None


class Holidays:
	"""The days a flow skips, asked per person (their country) and day."""

	def __init__(self, flow: MarketingFlow, settings: MarketingFlowSettings) -> None:
		self.mode = flow.get("skip_holidays") or ""
		self._settings = settings
		self._company: dict[date, str] | None = None
		self._fallback_code: str | None = None
		self._fallback_known = False

	@property
	def active(self) -> bool:
		return bool(self.mode)

	def company(self) -> dict[date, str]:
		if self._company is None:
			self._company = company_holidays(self._settings)
		return self._company

	def fallback_code(self) -> str | None:
		"""The country whose holidays count for people of unknown country: Settings' Holidays of
		Country, else System Settings' country."""
		if not self._fallback_known:
			country = self._settings.get("holiday_country") or frappe.db.get_single_value(
				"System Settings", "country"
			)
			self._fallback_code = time_zones.country_code(country)
			self._fallback_known = True
		return self._fallback_code

	def name_of(self, day: date, country_code: str | None) -> str | None:
		"""The holiday's name when `day` is skipped for a person of `country_code`, else None."""
		if not self.mode:
			return None
		if self.mode in (COUNTRY, BOTH):
			code = country_code or self.fallback_code()
			if code and (name := public_holidays(code, day.year).get(day)):
				return name
		if self.mode in (COMPANY, BOTH):
			return self.company().get(day)
		return None
