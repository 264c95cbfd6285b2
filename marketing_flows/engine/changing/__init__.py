"""Flows that change while people are in them: the definition a version freezes, versions and
where their people go, approval before going live."""
