#!/usr/bin/env python3
"""Print figures of the engine's shape: how many parameters are `Any` or untyped, the largest
modules and classes, and the parameters named `flow` / `participant` by the kind of value they
annotate. Read only: nothing is imported or run. Usage: python3 scripts/code_shape.py"""

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "marketing_flows"
PLACES = [ROOT / "engine", ROOT / "api"]


def parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
	args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
	args += [a for a in (fn.args.vararg, fn.args.kwarg) if a]
	return [a for a in args if a.arg not in ("self", "cls")]


def main() -> None:
	for place in PLACES:
		count_place(place)


def count_place(place: Path) -> None:
	total = any_count = untyped = 0
	kinds: dict[str, Counter] = {"flow": Counter(), "participant": Counter()}
	modules: list[tuple[int, str]] = []
	classes: list[tuple[int, int, str]] = []
	if True:
		for path in sorted(place.rglob("*.py")):
			text = path.read_text()
			rel = path.relative_to(ROOT.parent)
			modules.append((len(text.splitlines()), str(rel)))
			tree = ast.parse(text)
			for node in ast.walk(tree):
				if isinstance(node, ast.ClassDef):
					methods = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in node.body)
					size = (node.end_lineno or node.lineno) - node.lineno + 1
					classes.append((size, methods, f"{rel}:{node.name}"))
				if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
					continue
				for arg in parameters(node):
					total += 1
					note = ast.unparse(arg.annotation) if arg.annotation else ""
					if not note:
						untyped += 1
					elif any(isinstance(n, ast.Name) and n.id == "Any" for n in ast.walk(arg.annotation)):
						any_count += 1
					if arg.arg in kinds:
						kinds[arg.arg][note or "(none)"] += 1
	print(f"== {place.relative_to(ROOT.parent)}/")
	print(f"parameters: {total}; Any: {any_count}; untyped: {untyped}")
	for name, counter in kinds.items():
		print(
			f"`{name}` parameters by annotation: " + ", ".join(f"{k}: {v}" for k, v in counter.most_common())
		)
	print(f"modules: {len(modules)}; largest:")
	for size, rel in sorted(modules, reverse=True)[:6]:
		print(f"  {size:5d} lines  {rel}")
	print("largest classes:")
	for size, methods, name in sorted(classes, reverse=True)[:6]:
		print(f"  {size:5d} lines, {methods:2d} methods  {name}")


if __name__ == "__main__":
	main()
