"""The app's translations (issue 10): Danish, German, Norwegian and Swedish catalogues.

The template is built again from the code with the extractors of `bench generate-pot-file`
(scripts/i18n.py), so a new `_()` / `__()` string, label or option fails here until
scripts/i18n.sh update has added it to marketing_flows/locale/*.po and it is translated.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parent.parent  # the repository (or the bench's copy of it)
LOCALE = APP_DIR / "marketing_flows" / "locale"
LANGUAGES = ("da", "de", "no", "sv")
PLACEHOLDER = re.compile(r"\{\d*\}")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")

sys.path.insert(0, str(APP_DIR / "scripts"))


def read(path: Path):
	from babel.messages.pofile import read_po

	with open(path, "rb") as f:
		return read_po(f)


def key(message) -> tuple[str, str | None]:
	return (message.id, message.context)


@pytest.fixture(scope="module")
def template():
	"""(msgid, context) -> source locations, of the code as it is now."""
	import i18n

	return {key(m): m.locations for m in i18n.extract_catalog() if m.id}


def test_template_is_up_to_date(template):
	pot = {key(m) for m in read(LOCALE / "main.pot") if m.id}
	missing = sorted(set(template) - pot, key=str)
	assert not missing, (
		f"{len(missing)} strings of the code are not in locale/main.pot (run scripts/i18n.sh update): {missing[:20]}"
	)
	assert len(template) > 400  # labels, options, messages: the extractors did run


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_translates_every_string(template, lang):
	catalogue = read(LOCALE / f"{lang}.po")
	assert str(catalogue.locale) in (lang, {"no": "nb"}.get(lang, lang))
	problems = []
	for msgid, context in sorted(template, key=str):
		m = catalogue.get(msgid, context)
		where = "{}:{}".format(*template[(msgid, context)][0]) if template[(msgid, context)] else "?"
		if m is None or not (m.string or "").strip():
			problems.append(f"untranslated: {msgid!r} ({where})")
			continue
		if m.fuzzy:
			problems.append(f"fuzzy: {msgid!r}")
		if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(m.string)):
			problems.append(f"placeholders differ: {msgid!r} -> {m.string!r}")
		if sorted(TAG.findall(msgid)) != sorted(TAG.findall(m.string)):
			problems.append(f"HTML tags differ: {msgid!r} -> {m.string!r}")
	assert not problems, f"{lang}.po: {len(problems)} problems:\n" + "\n".join(problems[:40])


def test_no_formatted_string_inside_translation_calls():
	"""_(f"...") and __(`...${x}`) can't be extracted nor translated: use {0} and .format / __(s, [args])."""
	bad = []
	for path in (APP_DIR / "marketing_flows").rglob("*"):
		if path.suffix not in (".py", ".js", ".vue", ".html") or "node_modules" in path.parts:
			continue
		for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
			if re.search(r"\b_\(\s*f[\"']", line) or re.search(r"\b__\(\s*`[^`]*\$\{", line):
				bad.append(f"{path.relative_to(APP_DIR)}:{n}: {line.strip()}")
	assert not bad, "\n".join(bad)


EXPECTED = {
	"da": {
		"Marketing Flow": "Marketing-flow",
		"Participants": "Deltagere",
		"Success Criteria": "Succeskriterier",
	},
	"de": {
		"Marketing Flow": "Marketing-Flow",
		"Participants": "Teilnehmer",
		"Success Criteria": "Erfolgskriterien",
	},
	"no": {
		"Marketing Flow": "Markedsføringsflyt",
		"Participants": "Deltakere",
		"Success Criteria": "Suksesskriterier",
	},
	"sv": {
		"Marketing Flow": "Marknadsföringsflöde",
		"Participants": "Deltagare",
		"Success Criteria": "Framgångskriterier",
	},
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_translations_are_served(site, lang):
	"""scripts/setup.sh compiled the .po into the bench's .mo; Python and the desk's boot get them."""
	import frappe
	import frappe.translate
	from frappe.gettext.translate import get_mo_path, get_translations_from_mo

	assert get_mo_path("marketing_flows", lang).exists(), (
		"scripts/setup.sh should have compiled the .po files"
	)
	from_mo = get_translations_from_mo(lang, "marketing_flows")
	frappe.translate.clear_cache()
	served = frappe.translate.get_all_translations(lang)  # what the desk's boot sends to __()
	for source, translated in EXPECTED[lang].items():
		assert from_mo.get(source) == translated
		assert served.get(source) == translated
		assert frappe._(source, lang=lang) == translated
	# Messages of the code: a validation message, and one with a placeholder filled after translation.
	assert frappe._("Stop the flow before deleting it.", lang=lang) != "Stop the flow before deleting it."
	step = frappe._("Step {0}", lang=lang).format("s1")
	assert "s1" in step and step != "Step s1"
