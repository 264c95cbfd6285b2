"""Versions of a flow and where their people go (stub: being written)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow


def check_plan(flow: MarketingFlow, before: MarketingFlow | None) -> None:
	return None


def publish_on_save(flow: MarketingFlow, before: MarketingFlow | None) -> None:
	return None


def list_versions(flow: MarketingFlow) -> list[dict[str, Any]]:
	return []


def differences_between(flow: MarketingFlow, from_version: int | str, to_version: int | str | None) -> list[str]:
	return []


def proposal(flow: MarketingFlow, stored: MarketingFlow | None) -> dict[str, Any]:
	return {}
