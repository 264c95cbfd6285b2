"""Templates can't exhaust a worker: work and size are bounded whether or not the template prints
anything, at content save, in the designer's check and in the workers (issue 20, item 7)."""

from __future__ import annotations

import resource
import signal
import time

import frappe
import pytest

from factories import enrol_and_run, events, running_flow, step, unique

MB = 1024  # ru_maxrss is in KiB on Linux

BIG = "{% set big = 'x' * 10000 %}"  # 10 000 chars, allowed: each attack below starts from it

ATTACKS = [
	pytest.param(
		"{% for a in 'x' * 9999 %}{% for b in 'x' * 9999 %}{% for c in 'x' * 9999 %}"
		"{% endfor %}{% endfor %}{% endfor %}",
		"longer than 100000 steps",
		id="nested loops that print nothing",
	),
	pytest.param(
		BIG + "{% set a = big %}" + "{% set a = a ~ a %}" * 15 + "{{ a|length }}",
		"longer than 1000000 characters",
		id="a text doubled 15 times",
	),
	pytest.param(
		BIG + "{% for i in 'x' * 9999 %}{% for j in 'x' * 9999 %}{% set b = big ~ big ~ big %}"
		"{% endfor %}{% endfor %}",
		"10000000 characters of text in all",
		id="~ in a loop",
	),
	pytest.param("{{ 'x'.center(10**9) }}", "too large", id="str.center"),
	pytest.param("{{ 'x'.zfill(1000000000) }}", "too large", id="str.zfill"),
	pytest.param(
		BIG + "{% set x = ('a' * 10000)|replace('a', big ~ big) %}",
		"longer than 1000000 characters",
		id="replace filter",
	),
	pytest.param(
		BIG + "{% set x = ('a' * 10000).replace('a', big ~ big) %}",
		"longer than 1000000 characters",
		id="str.replace",
	),
	pytest.param("{{ '{:>999999999}'.format(1) }}", "too large", id="str.format width"),
	pytest.param("{{ '{:.999999999f}'.format(1.5) }}", "too large", id="str.format precision"),
	pytest.param("{{ '%999999999d' % 1 }}", "too large", id="% width"),
	pytest.param("{{ '%*d' % (999999999, 1) }}", "too large", id="% width from the arguments"),
	pytest.param("{{ '%999999999s'|format('x') }}", "too large", id="format filter"),
	pytest.param("{{ 'x'|indent(10**9) }}", "too large", id="indent filter"),
	pytest.param("{{ 'x'|center(1000000000) }}", "too large", id="center filter"),
	pytest.param(
		BIG + "{% set x = big|wordwrap(1, wrapstring=big) %}",
		"longer than 1000000 characters",
		id="wordwrap filter",
	),
	pytest.param(
		BIG + "{% set a = big ~ big ~ big ~ big ~ big ~ big ~ big ~ big ~ big ~ big %}{{ [a] * 10000 }}",
		"longer than 1000000 characters",
		id="printing a list of one text repeated",
	),
	pytest.param(
		BIG + "{% set a = big ~ big ~ big ~ big ~ big ~ big ~ big ~ big ~ big ~ big %}"
		"{% set x = ([a] * 10000)|join %}",
		"longer than 1000000 characters",
		id="join filter",
	),
	pytest.param(
		BIG + "{% set x = ''.join([big ~ big] * 10000) %}", "longer than 1000000 characters", id="str.join"
	),
	pytest.param(
		"{% macro f(n) %}{% if n > 0 %}{% set x = f(n - 1) %}{% set y = f(n - 1) %}{% endif %}"
		"{% endmacro %}{{ f(60) }}",
		"longer than 100000 steps",
		id="a macro calling itself twice",
	),
	pytest.param(
		"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nests calls too deeply", id="endless recursion"
	),
	pytest.param("{{ (10).to_bytes(10**9, 'big') }}", "longer than 1000000 characters", id="int.to_bytes"),
	pytest.param("{{ [1]|batch(10**9, 'x')|list }}", "more than 100000 items", id="batch filter"),
	pytest.param(
		"{% set l = [[1] * 10000] * 10000 %}{{ l|sum(start=[]) }}",
		"more than 100000 items",
		id="sum of lists",
	),
	pytest.param(
		BIG + "{% set a = big ~ big ~ big ~ big ~ big ~ big ~ big ~ big ~ big ~ big %}"
		"{% set a = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}"
		"{{ a|map('upper')|map('lower')|map('upper')|map('lower')|list|length }}",
		"longer than 100000 steps",
		id="filters applied item by item",
	),
]


@pytest.fixture(scope="module", autouse=True)
def warm():
	"""Translations and metadata loaded once, so the timings below are the templates' own."""
	frappe._("Invalid Template")
	frappe.get_meta("Marketing Flow Content")
	frappe.get_meta("Marketing Flow")


def content_with(body: str):
	return frappe.get_doc(
		{
			"doctype": "Marketing Flow Content",
			"content_name": unique("Bomb"),
			"channel": "Email",
			"subject": "Hi",
			"body": body,
		}
	)


@pytest.mark.parametrize("template, why", ATTACKS)
def test_a_template_that_would_exhaust_the_worker_is_refused_at_save_quickly_with_the_reason(template, why):
	peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
	started = time.monotonic()
	with pytest.raises(frappe.ValidationError, match=why) as refused:
		content_with(template).insert()
	assert time.monotonic() - started < 2.5
	assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200 * MB
	assert "Invalid Jinja" in str(refused.value) or "invalid Jinja" in str(refused.value)


@pytest.mark.parametrize(
	"template, why",
	[ATTACKS[0], ATTACKS[1], ATTACKS[3], ATTACKS[9]],
)
def test_the_designers_check_names_the_reason_and_the_step(template, why):
	from marketing_flows.engine.running import validation

	flow = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": unique("Flow"),
			"steps": [step("note", "Create Activity", activity_description=template)],
		}
	)
	started = time.monotonic()
	errors = validation.design_errors(flow)["errors"]
	assert time.monotonic() - started < 2.5
	assert any(why in e["message"] and "note" in e["steps"] for e in errors), errors


def test_a_template_that_grows_only_with_real_data_stalls_the_participant_with_the_reason(worker, settings):
	settings.set("Marketing Flow Settings", max_attempts=5)
	template = (
		"{% if contact.first_name %}"
		+ BIG
		+ "{% set x = (contact.first_name[:8] * 1000)|replace('a', big) %}"
		"{% endif %}done"
	)  # prints nothing big: only a bound on what is built stops it
	flow = running_flow(
		[step("u", "Update Participant", update_field="designation", update_value=template)]
	)  # saved: with no one's data it builds nothing
	contact, p = enrol_and_run(flow, worker, first_name=unique("aaaaaaaa"))
	assert p.status == "Stalled" and "longer than 1000000 characters" in p.last_error
	assert ("u", "Retry") not in events(flow.name, contact)
	assert not frappe.db.get_value("Contact", contact, "designation")


def test_the_worker_path_raises_a_limit_error():
	from marketing_flows.engine.sending import render

	ctx = {"contact": frappe._dict(first_name="a" * 10)}
	with pytest.raises(render.TemplateLimitError, match="longer than 1000000 characters"):
		render.render(BIG + "{{ (contact.first_name * 1000)|replace('a', big) }}", ctx, html=True)
	with pytest.raises(render.TemplateLimitError, match="longer than 100000 steps"):
		render.render(
			"{% for a in contact.first_name * 999 %}{% for b in 'x' * 999 %}{% endfor %}{% endfor %}", ctx
		)


def test_anything_else_that_runs_long_is_stopped_by_the_clock_and_the_callers_alarm_is_kept():
	"""In the main thread (RQ's work-horse, sync web workers) a timer stops what no count sees,
	here a slow callable in the context; RQ's own job timeout (SIGALRM) survives the render."""
	from marketing_flows.engine.sending import render

	fired = []
	previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
	signal.setitimer(signal.ITIMER_REAL, 100)
	try:
		started = time.monotonic()
		with pytest.raises(render.TemplateLimitError, match="longer than 2 seconds"):
			render.render("{{ slow() }}", {"slow": lambda: time.sleep(30)})
		assert time.monotonic() - started < 3.5
		assert render.render("{{ 1 + 1 }}", {}) == "2"
		assert signal.getsignal(signal.SIGALRM) is not render._on_alarm
		assert 90 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
		assert not fired
	finally:
		signal.setitimer(signal.ITIMER_REAL, 0)
		signal.signal(signal.SIGALRM, previous)


CONTEXT = {
	"contact": frappe._dict(
		first_name="ada",
		last_name="Lovelace",
		company_name="Analytical & Co <ltd>",
		email_ids=[
			frappe._dict(email_id="ada@example.com", is_primary=1),
			frappe._dict(email_id="a@b.org", is_primary=0),
		],
		amount=1234.5,
		n=3,
	),
	"company": frappe._dict(company_name='Acme "Inc"'),
	"flow": {"flow_name": "Spring"},
}


@pytest.mark.parametrize(
	"template, kind, expected",
	[
		("Hi {{ contact.first_name|title }} {{ contact.last_name|default('') }}", "text", "Hi Ada Lovelace"),
		(
			"{% for e in contact.email_ids %}{{ loop.index }}. {{ e.email_id }}"
			"{% if e.is_primary %} (primary){% endif %};{% endfor %}",
			"text",
			"1. ada@example.com (primary);2. a@b.org;",
		),
		(
			"<p>{{ contact.company_name }} / {{ company.company_name }}</p>",
			"html",
			"<p>Analytical &amp; Co &lt;ltd&gt; / Acme &#34;Inc&#34;</p>",
		),
		(
			"{{ '%.2f'|format(contact.amount) }} {{ '%05d' % contact.n }} "
			"{{ '{:>8}|{:.3f}'.format(contact.first_name, contact.amount) }}",
			"text",
			"1234.50 00003      ada|1234.500",
		),
		(
			"{{ contact.first_name ~ ' ' ~ contact.last_name }} {{ contact.first_name + '!' }} "
			"{{ contact.n * 2 }} {{ 2 ** 10 }} {{ 'ab' * 3 }}",
			"text",
			"ada Lovelace ada! 6 1024 ababab",
		),
		(
			"{{ contact.email_ids|map(attribute='email_id')|join(', ') }} "
			"({{ contact.email_ids|selectattr('is_primary')|list|length }})",
			"text",
			"ada@example.com, a@b.org (1)",
		),
		(
			"{{ contact.first_name|center(9) }}|{{ contact.last_name|upper|replace('L', 'l') }}|"
			"{{ 'a\nb'|indent(2, first=True) }}",
			"text",
			"   ada   |lOVElACE|  a\n  b",
		),
		(
			"{{ 'a long text to be wrapped here'|wordwrap(10) }} {{ 'hello world foo bar'|truncate(9) }}",
			"text",
			"a long\ntext to be\nwrapped\nhere hello...",
		),
		(
			"{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}{{ b(contact.company_name) }} "
			"{{ contact.first_name.ljust(5, '.') }} {{ ', '.join(['a', 'b']) }}",
			"html",
			"<b>Analytical &amp; Co &lt;ltd&gt;</b> ada.. a, b",
		),
		(
			"{{ 'Hi {0}, see {url}'.format(contact.first_name, url='https://example.com') }} "
			"{{ '<p>hi</p>'|striptags }} {{ flow.flow_name|urlencode }}",
			"text",
			"Hi ada, see https://example.com hi Spring",
		),
		(
			'{"name": "{{ contact.first_name }} {{ company.company_name }}", "n": {{ contact.n }}}',
			"json",
			'{"name": "ada Acme \\"Inc\\"", "n": 3}',
		),
	],
)
def test_ordinary_templates_render_as_before(template, kind, expected):
	from marketing_flows.engine.sending import render

	assert render.problem(template) is None
	assert render.render(template, CONTEXT, html=kind == "html", json_values=kind == "json") == expected


def test_an_ordinary_email_with_a_loop_saves(smtp):
	content = content_with(
		"<p>Hi {{ contact.first_name|default('there')|title }},</p>"
		"<ul>{% for e in contact.email_ids %}<li>{{ e.email_id }}</li>{% endfor %}</ul>"
		"<p>{{ '%.2f'|format(contact.amount or 0) }} {{ company.company_name|upper }}</p>"
	)
	content.sender = smtp.account
	content.insert()
	assert frappe.db.exists("Marketing Flow Content", content.name)


@pytest.fixture
def french_reason():
	"""A French translation of one limit's reason, as a translator would add it (Translation)."""
	source = "the template builds a text longer than {0} characters"
	frappe.get_doc(
		{
			"doctype": "Translation",
			"language": "fr",
			"source_text": source,
			"translated_text": "le modèle construit un texte de plus de {0} caractères",
		}
	).insert(ignore_permissions=True)
	previous = frappe.local.lang
	frappe.local.lang = "fr"
	yield
	frappe.local.lang = previous
	frappe.db.delete("Translation", {"language": "fr", "source_text": source})
	from frappe.translate import clear_cache

	clear_cache()


def test_the_reason_is_given_in_the_editors_language(french_reason):
	with pytest.raises(frappe.ValidationError, match="plus de 1000000 caractères"):
		content_with(BIG + "{{ ('a' * 10000)|replace('a', big) }}").insert()
