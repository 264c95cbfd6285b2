"""The app's translation catalogues (Frappe v15 gettext: marketing_flows/locale/*.po).

Builds the template the way `bench generate-pot-file --app marketing_flows` does (same babel
extractors and keywords, frappe/gettext/translate.py::generate_pot), without needing a git
checkout: the bench's copy of the app has no .git, so the generator's "is it gitignored"
check is replaced by the directories this repository ignores.

Run with the bench's Python from the bench's sites directory (scripts/i18n.sh does it):
  python scripts/i18n.py pot      write marketing_flows/locale/main.pot
  python scripts/i18n.py update   pot, then add new msgids to every .po (bench update-po-files)
The test (tests/test_i18n.py) imports `extract_catalog` to compare the code with the catalogues.
"""

from __future__ import annotations

import os
import sys

APP = "marketing_flows"
LANGUAGES = ("da", "de", "no", "sv")
IGNORED_DIRS = {"node_modules", "dist", "artifacts", "results", "__pycache__"}


def directory_filter(dirpath: str | os.PathLike[str]) -> bool:
	name = os.path.basename(dirpath)
	return not (name.startswith((".", "_")) or name in IGNORED_DIRS or name.endswith(".egg-info"))


def extract_catalog(app: str = APP):
	"""The template (a babel Catalog) of the app's current code, as generate_pot makes it."""
	import frappe
	from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
	from frappe.gettext.translate import get_method_map, new_catalog

	keywords = DEFAULT_KEYWORDS.copy()
	keywords["_lt"] = None
	method_map = get_method_map(app) + get_method_map("frappe")
	catalog = new_catalog(app)
	app_path = frappe.get_pymodule_path(app, "..")
	for filename, lineno, message, comments, context in extract_from_dir(
		app_path, method_map, directory_filter=directory_filter, keywords=keywords
	):
		if message:
			catalog.add(message, locations=[(filename, lineno)], auto_comments=comments, context=context)
	return catalog


def main(argv: list[str]) -> int:
	import frappe
	from frappe.gettext.translate import get_pot_path, update_po, write_catalog

	site = os.environ.get("MF_TEST_SITE", "mf-test.localhost")
	frappe.init(site=site, sites_path=os.environ.get("MF_SITES_PATH", "."))
	try:
		write_catalog(APP, extract_catalog())
		print(f"POT file written: {get_pot_path(APP)}")
		if argv[1:2] == ["update"]:
			for lang in LANGUAGES:
				update_po(APP, lang)
	finally:
		frappe.destroy()
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv))
