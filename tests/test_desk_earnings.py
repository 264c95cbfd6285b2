"""What a flow earns, in the desk, in a real browser (Playwright driving Debian's chromium against
`bench serve`): the Reports tab's lift against the control group (its sentence, the charts of the
goal rates and of the lift with its interval), revenue per step and per A/B variant, the A/B
decision with its significance; the Overview's "earned beyond the control group" and held-out
count; the Participants tab's Held Out people; and none of the revenue for a Flow Content Editor
(who may not read Marketing Flow Attribution). The people, their goals, their revenue and the
A/B decision are seeded in bulk SQL; the figures are the app's own (get_earnings). Screenshots
go to the artifacts dir (conftest.screenshot), to be looked at."""

from __future__ import annotations

import frappe
import pytest
from frappe.utils import add_to_date, now_datetime

from conftest import login, open_tab, screenshot, text_of
from factories import end, make_flow, make_user, step, unique

PASSWORD = "Flows-Earnings-2026!"

# 2000 enrolled (15 % reach the goal), 500 held out (8 %); every goal brings one invoice of 100
ENROLLED, ENROLLED_GOALS = 2000, 300
HELD_OUT, HELD_OUT_GOALS = 500, 40
AMOUNT = 100.0


@pytest.fixture(scope="module")
def users():
	admin = make_user(["Flow Administrator", "Sales User"], "earnadmin", PASSWORD)
	editor = make_user(["Flow Content Editor"], "earneditor", PASSWORD)
	frappe.db.commit()
	return {"admin": admin, "editor": editor}


def ab_flow(name: str, holdout: float) -> frappe._dict:
	"""A Running flow: an A/B test (Goal Conversion, picked automatically) between two offers
	(waits), then the end; version 1 published by the Run."""
	flow = make_flow(
		steps=[
			step(
				"ab",
				"A/B Test",
				label="Which offer",
				ab_auto_winner=1,
				ab_metric="Goal Conversion",
				ab_test_size=500,
			),
			step("offer_a", "Wait", label="Discount offer", wait_amount=1, wait_unit="Days", next_step="end"),
			step(
				"offer_b",
				"Wait",
				label="Free shipping offer",
				wait_amount=1,
				wait_unit="Days",
				next_step="end",
			),
			end(),
		],
		branches=[
			{"step_id": "ab", "branch_label": "Discount", "percentage": 50, "next_step": "offer_a"},
			{"step_id": "ab", "branch_label": "Free shipping", "percentage": 50, "next_step": "offer_b"},
		],
		flow_name=name,
		holdout_percent=holdout,
	)
	flow.run()
	flow.reload()
	keys = [b.branch_key for b in flow.branches if b.step_id == "ab"]
	return frappe._dict(name=flow.name, variants=keys)


def seed(
	flow: frappe._dict,
	enrolled: int,
	enrolled_goals: int,
	held_out: int,
	held_out_goals: int,
	versions: int = 1,
) -> None:
	"""Participants as the engine leaves them (enrolled ones Completed after the A/B test and
	their offer; held-out ones "Held Out"), enrolled over the last 20 days (the earlier ones on
	version 1, the later ones on the next `versions`); the first goals of each group with one
	invoice of AMOUNT each (an attribution row, the participant's sums). Variant a gets two thirds
	of the enrolled goals."""
	from marketing_flows.engine import bulk, log

	now = now_datetime()
	columns = (
		"name",
		"flow",
		"person_doctype",
		"person",
		"email",
		"status",
		"flow_version",
		"enrolled_on",
		"succeeded",
		"succeeded_on",
		"revenue",
		"revenue_documents",
		"exit_reason",
		"ended_on",
		"creation",
		"modified",
		"owner",
		"modified_by",
		"docstatus",
		"idx",
	)
	rows, entries, credits = [], [], []
	tag = frappe.generate_hash(length=6)
	for group, n, goals in (("in", enrolled, enrolled_goals), ("out", held_out, held_out_goals)):
		for i in range(n):
			name = f"mfe-{tag}-{group}-{i:05d}"
			person = f"EARN-{tag}-{group}-{i:05d}"
			when = add_to_date(now, days=-20 + (i * 20) // n, hours=1)
			version = 1 + (i * versions) // n
			# goals spread over both groups' time alike; in the enrolled group variant a (even i)
			# reaches the goal twice as often as b
			if group == "in":
				share = (100 * (2 * goals // 3) // (n // 2), 100 * (goals - 2 * goals // 3) // (n // 2))
				won = (i // 2) % 100 < share[i % 2]
			else:
				won = i % 100 < 100 * goals // n
			rows.append(
				(
					name,
					flow.name,
					"Contact",
					person,
					f"{person.lower()}@example.com",
					"Completed" if group == "in" else "Held Out",
					version,
					when,
					int(won),
					add_to_date(when, days=1) if won else None,
					AMOUNT if won else 0,
					1 if won else 0,
					None if group == "in" else "Control group",
					add_to_date(when, days=1) if group == "in" else None,
					when,
					when,
					"Administrator",
					"Administrator",
					0,
					0,
				)
			)
			if won:
				credits.append(
					(
						frappe.generate_hash(length=12),
						flow.name,
						name,
						version,
						int(group == "out"),
						"Sales Invoice",
						f"SINV-{tag}-{group}-{i:05d}",
						add_to_date(when, days=2),
						AMOUNT,
						when,
						when,
						"Administrator",
						"Administrator",
						0,
					)
				)
			if group == "in":
				key = flow.variants[i % 2]
				entries.append(
					log.entry(flow.name, name, None, "ab", "Step Executed", branch=key, version=version)
				)
				entries.append(
					log.entry(flow.name, name, None, f"offer_{'ab'[i % 2]}", "Step Executed", version=version)
				)
				entries.append(log.entry(flow.name, name, None, "end", "Step Executed", version=version))
			else:
				entries.append(
					log.entry(flow.name, name, None, None, "Held Out", "Control group", version=version)
				)
	bulk.insert("Marketing Flow Participant", columns, rows)
	bulk.insert(
		"Marketing Flow Attribution",
		(
			"name",
			"flow",
			"participant",
			"flow_version",
			"held_out",
			"document_type",
			"document_name",
			"document_date",
			"amount",
			"creation",
			"modified",
			"owner",
			"modified_by",
			"docstatus",
		),
		credits,
	)
	log.write_many(entries)


@pytest.fixture(scope="module")
def euro(users):
	"""The site's default currency EUR for the module (a Frappe-only test site has none)."""
	before = frappe.db.get_default("currency")
	frappe.db.set_default("currency", "EUR")
	frappe.db.commit()
	yield "€"
	frappe.db.rollback()
	if before:
		frappe.db.set_default("currency", before)
	else:
		frappe.defaults.clear_default("currency")
	frappe.db.commit()


@pytest.fixture(scope="module")
def earning_flow(users, euro):
	"""The flow with enough people on both sides, and its A/B test decided for variant a."""
	flow = ab_flow(unique("Earning"), holdout=20)
	seed(flow, ENROLLED, ENROLLED_GOALS, HELD_OUT, HELD_OUT_GOALS)
	winner = flow.variants[0]
	t = frappe.qb.DocType("Marketing Flow Step")
	frappe.qb.update(t).set(t.ab_winner, winner).set(t.ab_decided_on, now_datetime()).set(
		t.ab_decision,
		"A/B test 'Which offer': Discount wins by Goal Conversion (20.0 % vs 10.0 %, significant at 95 %).",
	).where((t.parent == flow.name) & (t.step_id == "ab")).run()
	frappe.db.commit()
	yield flow
	frappe.db.rollback()
	frappe.set_user("Administrator")
	frappe.get_doc("Marketing Flow", flow.name).stop()  # made before any test: no test stops it
	frappe.db.commit()


def watch_errors(page) -> list[str]:
	errors: list[str] = []
	page.on("pageerror", lambda e: errors.append(str(e)))
	# an error in a promise (a chart drawn from the server's answer) is only logged
	page.on(
		"console", lambda m: errors.append(m.text) if m.type == "error" and "Uncaught" in m.text else None
	)
	return errors


def no_error_dialog(page) -> None:
	dialogs = page.locator(".modal.show .msgprint")
	assert dialogs.count() == 0, dialogs.all_inner_texts()


def test_reports_and_overview_show_what_the_flow_earned(browser, desk_url, users, earning_flow):
	"""A Flow Administrator: the Overview has the held-out count and the amount earned beyond the
	control group; the Reports tab the lift sentence (significant), the two lift charts, revenue
	per step and the A/B test's variants with p-values, revenue and the decision; the figures of
	version 1 are the same; the Participants tab filters the held-out people (grey)."""
	flow = earning_flow.name
	page = login(browser, desk_url, users["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow}")
		page.wait_for_selector(".mf-figures .mf-enrolled", timeout=20000)
		assert text_of(page.locator(".mf-figures .mf-enrolled .h4")) == str(ENROLLED)
		assert text_of(page.locator(".mf-figures .mf-held-out .h4")) == str(HELD_OUT)
		earned = page.locator(".mf-earned-card .mf-earned-value")
		earned.wait_for(timeout=20000)
		# (300 * 100 / 2000 - 40 * 100 / 500) per person, times 2000 enrolled
		assert "14,000" in text_of(earned) and "€" in text_of(earned), text_of(earned)
		assert "15" in text_of(page.locator(".mf-earned-note")) and "8" in text_of(
			page.locator(".mf-earned-note")
		)
		page.locator(".mf-figures").scroll_into_view_if_needed()
		screenshot(page, "earnings-overview")

		open_tab(page, "reports_tab")
		summary = page.locator(".mf-lift-summary")
		summary.wait_for(timeout=20000)
		text = text_of(summary)
		assert text.startswith("Goal rate 15.0 % enrolled vs 8.0 % held out: +7.0 points (95 % interval +"), (
			text
		)
		assert page.locator(".mf-lift-significance").get_attribute("data-significant") == "1"
		for chart in ("goal-rates", "lift", "revenue-steps"):
			page.locator(f".mf-earnings [data-chart='{chart}'] svg").first.wait_for(timeout=20000)
		revenue = text_of(page.locator(".mf-revenue-summary"))
		assert "30,000" in revenue and "4,000" in revenue and "14,000" in revenue, revenue
		# frappe-charts draws the figures a moment after the axes: the lift chart's "no
		# difference" line and the revenue bars
		page.wait_for_function(
			"() => document.querySelector(\".mf-earnings [data-chart='lift']\").innerText.includes('No difference')"
			" && [...document.querySelectorAll(\".mf-earnings [data-chart='revenue-steps'] rect.bar\")]"
			".some((r) => +r.getAttribute('height') > 0)",
			timeout=10000,
		)
		page.wait_for_timeout(300)
		screenshot(page, "earnings-reports")

		card = page.locator(".mf-branch-report[data-step='ab']")
		card.scroll_into_view_if_needed()
		assert "Discount wins by Goal Conversion" in text_of(card.locator(".mf-ab-decision"))
		a, b = earning_flow.variants
		row_a = card.locator(f".mf-branch-row[data-branch='{a}']")
		row_b = card.locator(f".mf-branch-row[data-branch='{b}']")
		assert row_a.locator(".mf-winner").count() == 1
		assert "1000" in text_of(row_a) and "20.0 %" in text_of(row_a), text_of(row_a)
		assert "20,000" in text_of(row_a.locator(".mf-branch-revenue"))
		assert "10,000" in text_of(row_b.locator(".mf-branch-revenue"))
		# the trailing variant against the leading one: 10 % vs 20 % of 1000 each is significant
		assert text_of(row_b.locator(".mf-p-value")) == "< 0.001", text_of(row_b)
		assert "Significant" in text_of(row_b)
		screenshot(page, "earnings-reports-ab")

		# the figures of version 1 (everyone's version): the same sentence
		select = page.locator(".mf-figures-version-select:visible").first
		select.wait_for(timeout=10000)
		select.select_option("1")
		page.locator(".mf-earnings[data-version='1'] .mf-lift-summary").wait_for(timeout=20000)
		assert text_of(page.locator(".mf-lift-summary")).startswith("Goal rate 15.0 % enrolled"), text_of(
			page.locator(".mf-lift-summary")
		)
		assert page.locator(".mf-earnings [data-chart='lift'] svg").count() >= 1

		open_tab(page, "participants_tab")
		status = page.locator(".mf-participants .mf-filter-status")
		status.wait_for(timeout=20000)
		status.select_option("Held Out")
		page.wait_for_function(
			"() => { const rows = document.querySelectorAll('.mf-participants tbody tr.mf-participant');"
			" return rows.length === 20 && [...rows].every((r) => r.querySelector('.mf-held-out')); }",
			timeout=20000,
		)
		assert "gray" in page.locator(".mf-participants .mf-held-out").first.get_attribute("class")
		screenshot(page, "earnings-participants-held-out")
		no_error_dialog(page)
	except Exception as e:
		screenshot(page, "earnings-reports-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors


def test_not_enough_people_yet(browser, desk_url, users):
	"""40 held out of the 100 needed: the Reports tab says so and draws no lift as if it knew."""
	flow = ab_flow(unique("Young"), holdout=10)
	seed(flow, 360, 40, 40, 3, versions=2)  # half of them on a version 2
	frappe.db.commit()
	page = login(browser, desk_url, users["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow.name}")
		page.wait_for_selector(".mf-figures .mf-held-out", timeout=20000)
		note = page.locator(".mf-earned-card .mf-earned-note")
		note.wait_for(timeout=20000)
		assert "Not enough people yet" in text_of(note) and "40 of the 100" in text_of(note), text_of(note)
		page.locator(".mf-figures").scroll_into_view_if_needed()
		screenshot(page, "earnings-overview-not-enough")
		open_tab(page, "reports_tab")
		summary = page.locator(".mf-lift-summary")
		summary.wait_for(timeout=20000)
		said = text_of(summary)
		assert said.startswith("Not enough people yet") and "40 of the 100" in said, said
		assert page.locator(".mf-lift-significance").count() == 0
		assert "So far: goal rate" in text_of(page.locator(".mf-lift-detail"))
		# each version apart, neither with enough people yet
		rows = page.locator(".mf-earnings-by-version tr.mf-version-earnings")
		assert rows.count() == 2
		assert [r.get_attribute("data-version") for r in rows.all()] == ["1", "2"]
		assert "Not enough people yet" in text_of(rows.nth(1))
		page.wait_for_timeout(1000)  # frappe-charts draws the lines a moment after the axes
		screenshot(page, "earnings-not-enough")
		no_error_dialog(page)
	except Exception as e:
		screenshot(page, "earnings-not-enough-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors


def test_a_content_editor_sees_the_lift_but_no_revenue(browser, desk_url, users, earning_flow):
	"""A Flow Content Editor may not read Marketing Flow Attribution: the lift and the A/B test,
	but no revenue line, chart, column or Overview card, and no error."""
	page = login(browser, desk_url, users["editor"], PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{earning_flow.name}")
		page.wait_for_selector(".mf-figures .mf-held-out", timeout=20000)
		open_tab(page, "reports_tab")
		page.locator(".mf-lift-summary").wait_for(timeout=20000)
		assert text_of(page.locator(".mf-lift-summary")).startswith("Goal rate 15.0 % enrolled")
		page.locator(".mf-branch-report[data-step='ab'] .mf-branch-row").first.wait_for(timeout=20000)
		assert page.locator(".mf-revenue-summary").count() == 0
		assert page.locator("[data-chart='revenue-steps']").count() == 0
		assert page.locator(".mf-branch-revenue").count() == 0
		assert page.locator(".mf-branch-report").count() == 1  # the A/B test; no Split's revenue
		page.wait_for_timeout(1000)  # frappe-charts draws the lines a moment after the axes
		screenshot(page, "earnings-reports-content-editor")
		open_tab(page, "overview_tab")
		page.wait_for_timeout(500)
		assert page.locator(".mf-earned-card").count() == 0
		no_error_dialog(page)
	except Exception as e:
		screenshot(page, "earnings-content-editor-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors


def test_designer_panels_have_the_ab_significance_and_the_control_group(
	browser, desk_url, users, earning_flow
):
	"""The designer: the A/B step's panel has the significance level and the fallback; the flow's
	panel the control group, the revenue window and the campaign tags."""
	page = login(browser, desk_url, users["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow-designer/{earning_flow.name}")
		node = page.locator(".vue-flow__node[data-id='ab']")
		node.wait_for(timeout=30000)
		node.locator(".mf-node-label").click()
		for fieldname in ("ab_confidence", "ab_fallback"):
			page.locator(f".mf-side-panel [data-fieldname='{fieldname}']").first.wait_for(timeout=10000)
		# the flow runs: the panel is read-only, its values shown as text
		assert "95" in text_of(page.locator(".mf-side-panel [data-fieldname='ab_confidence']").first)
		assert "Keep Splitting" in text_of(
			page.locator(".mf-side-panel [data-fieldname='ab_fallback']").first
		)
		no_error_dialog(page)  # the winner's moment (microseconds) is shown without a complaint
		page.locator(".mf-side-panel [data-fieldname='ab_fallback']").first.scroll_into_view_if_needed()
		screenshot(page, "earnings-designer-ab")
		pane = page.locator(".mf-designer .vue-flow__pane")
		pane.click(position={"x": pane.bounding_box()["width"] - 30, "y": 30})  # an empty corner
		for fieldname in (
			"holdout_percent",
			"attribution_window_days",
			"attribution_from",
			"add_utm_tags",
			"utm_campaign",
		):
			page.locator(f".mf-side-panel [data-fieldname='{fieldname}']").first.wait_for(timeout=10000)
		page.locator(".mf-side-panel [data-fieldname='utm_campaign']").first.scroll_into_view_if_needed()
		screenshot(page, "earnings-designer-flow")
	except Exception as e:
		screenshot(page, "earnings-designer-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors
