"""The README's code map names every folder and module of the engine, and nothing that is gone:
a map that drifted from the tree is worse than none. Pure file reading, no site needed."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "marketing_flows" / "engine"


def mapped_engine_paths() -> set[str]:
	"""Paths under engine/ as the README's code map draws them (two spaces per level)."""
	text = (ROOT / "README.md").read_text()
	block = text[text.index("- Code map") :]
	block = block[block.index("```") + 3 :]
	block = block[: block.index("```")]
	stack: list[tuple[int, str]] = []
	found: set[str] = set()
	for line in block.splitlines():
		match = re.match(r"^( *)(\S+?(?:/|\.py))(\s|$)", line)
		if not match:
			continue
		indent, name = len(match.group(1)), match.group(2)
		while stack and stack[-1][0] >= indent:
			stack.pop()
		path = "".join(part for _i, part in stack) + name
		if name.endswith("/"):
			stack.append((indent, name))
		prefix = "marketing_flows/engine/"
		if path.startswith(prefix) and path != prefix:
			found.add(path.removeprefix(prefix))
	return found


def engine_paths() -> set[str]:
	found = set()
	for path in ENGINE.rglob("*.py"):
		rel = path.relative_to(ENGINE)
		if rel.name != "__init__.py":
			found.add(rel.as_posix())
		found.update(f"{parent.as_posix()}/" for parent in rel.parents if parent != Path("."))
	return found


def test_the_code_map_names_every_engine_module_and_nothing_else():
	mapped, actual = mapped_engine_paths(), engine_paths()
	assert mapped, "no engine/ entries found in the README's code map"
	assert not actual - mapped, f"missing from the README's code map: {sorted(actual - mapped)}"
	assert not mapped - actual, f"in the README's code map but not in engine/: {sorted(mapped - actual)}"


def test_every_engine_folder_and_module_says_what_it_is_for():
	undocumented = [
		path.relative_to(ENGINE).as_posix()
		for path in ENGINE.rglob("*.py")
		if not (path.read_text().lstrip().startswith('"""'))
	]
	assert not undocumented, f"modules without a docstring: {undocumented}"
