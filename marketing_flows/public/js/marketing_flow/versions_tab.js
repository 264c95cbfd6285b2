// The flow form's Versions tab: every published version of the flow (newest first) with who
// published it, what changed and how many people are on it, and the step-by-step difference
// between any two versions (or a version and the flow as it is now). Also the version select of
// the Overview and Flow tabs: their figures for one version, or for all.
frappe.provide("marketing_flows");

marketing_flows.VERSION_COLOURS = { Live: "green", Draining: "orange", Retired: "gray" };

marketing_flows.render_versions = function (frm) {
	const wrapper = frm.get_field("versions_html").$wrapper;
	const esc = frappe.utils.escape_html;
	frm.mf_versions_drawn = true;
	const seq = (frm.mf_versions_seq = (frm.mf_versions_seq || 0) + 1);
	frm.call("get_versions").then((r) => {
		if (seq !== frm.mf_versions_seq) return; // drawn again meanwhile
		const versions = r.message || [];
		frm.mf_versions = versions;
		marketing_flows.draw_figures_version_selects(frm);
		if (!versions.length) {
			wrapper.html(`<div class="text-muted mf-versions">${esc(
				__("No version yet: the first save of a flow's steps publishes version 1.")
			)}</div>`);
			return;
		}
		const cards = versions
			.map((v) => {
				const colour = marketing_flows.VERSION_COLOURS[v.status] || "gray";
				const changes = (v.changes || []).map((c) => `<li>${esc(c)}</li>`).join("");
				const moved = [];
				if (v.moved) moved.push(__("{0} moved to the next version", [v.moved]));
				if (v.drained) moved.push(__("{0} finished on this version", [v.drained]));
				const by = v.published_by ? frappe.user_info(v.published_by).fullname || v.published_by : "";
				return `<div class="border rounded p-3 mb-3 mf-version" data-version="${esc(String(v.version))}">
					<div class="d-flex align-items-center" style="gap:8px">
						<b class="mf-version-name">${esc(__("Version {0}", [v.version]))}</b>
						<span class="indicator-pill no-indicator-dot ${colour}">${esc(__(v.status || ""))}</span>
						<span class="text-muted small ml-auto mf-version-people">${esc(
							v.people === 1 ? __("1 person on it now") : __("{0} people on it now", [v.people || 0])
						)}</span>
					</div>
					<div class="text-muted small mt-1">${esc(
						by || v.published_on
							? __("Published by {0} on {1}", [by || "?", frappe.datetime.str_to_user(v.published_on) || "?"])
							: ""
					)}</div>
					${changes ? `<ul class="mt-2 mb-0 mf-version-changes">${changes}</ul>`
						: `<div class="mt-2 text-muted small">${esc(__("The first version."))}</div>`}
					${moved.length ? `<div class="small text-muted mt-1">${esc(moved.join(" · "))}</div>` : ""}
				</div>`;
			})
			.join("");
		const option = (v) => `<option value="${esc(String(v.version))}">${esc(__("Version {0}", [v.version]))}</option>`;
		wrapper.html(`<div class="mf-versions">
			<div class="mf-version-list">${cards}</div>
			<div class="border rounded p-3 mf-version-compare">
				<h6>${esc(__("Compare versions"))}</h6>
				<div class="d-flex align-items-center mb-2" style="gap:8px">
					<span class="small">${esc(__("From"))}</span>
					<select class="form-control input-xs mf-compare-from" style="max-width:180px">${versions.map(option).join("")}</select>
					<span class="small">${esc(__("To"))}</span>
					<select class="form-control input-xs mf-compare-to" style="max-width:220px">
						<option value="">${esc(__("The flow as it is now"))}</option>${versions.map(option).join("")}
					</select>
				</div>
				<div class="mf-differences"></div>
			</div>
		</div>`);
		// by default: the version before the newest against the newest (or the only one against now)
		const $from = wrapper.find(".mf-compare-from");
		const $to = wrapper.find(".mf-compare-to");
		const state = frm.mf_compare || {};
		const known = (v) => versions.some((x) => String(x.version) === String(v));
		$from.val(known(state.from) ? state.from : String((versions[1] || versions[0]).version));
		if (state.to === "" || known(state.to)) $to.val(state.to);
		else $to.val(versions.length > 1 ? String(versions[0].version) : "");
		const compare = () => {
			frm.mf_compare = { from: $from.val(), to: $to.val() };
			marketing_flows.render_differences(frm, wrapper.find(".mf-differences"), $from.val(), $to.val());
		};
		$from.on("change", compare);
		$to.on("change", compare);
		compare();
	});
};

marketing_flows.render_differences = function (frm, $target, from_version, to_version) {
	const esc = frappe.utils.escape_html;
	const label = (v) => (v ? __("version {0}", [v]) : __("the flow as it is now"));
	$target.html(`<div class="text-muted small">${esc(__("Loading..."))}</div>`);
	const seq = (frm.mf_differences_seq = (frm.mf_differences_seq || 0) + 1);
	frm.call("version_differences", { from_version, to_version: to_version || null }).then((r) => {
		if (seq !== frm.mf_differences_seq) return; // another pair chosen meanwhile
		const sentences = r.message || [];
		const title = esc(__("From {0} to {1}", [label(from_version), label(to_version)]));
		$target.html(
			`<div class="small text-muted mb-1 mf-differences-title">${title}</div>` +
				(sentences.length
					? `<ol class="mb-0 mf-difference-list">${sentences.map((s) => `<li>${esc(s)}</li>`).join("")}</ol>`
					: `<div class="text-muted mf-no-differences">${esc(__("No differences."))}</div>`)
		);
	});
};

// The version select above the Overview's figures, the Flow tab's diagram and the Reports: "All
// versions" or one version; the figures are loaded for it (get_all_figures) and every tab drawn
// again (with that version's earnings: marketing_flows.earnings_of).
marketing_flows.draw_figures_version_selects = function (frm) {
	const esc = frappe.utils.escape_html;
	const numbers = (frm.mf_versions || []).length
		? frm.mf_versions.map((v) => v.version)
		: Array.from({ length: frm.doc.version || 0 }, (_, i) => (frm.doc.version || 0) - i);
	const current = frm.mf_figures_version || "";
	for (const fieldname of ["figures_html", "flow_diagram", "reports_html"]) {
		const field = frm.get_field(fieldname);
		if (!field) continue;
		let $bar = field.$wrapper.prev(".mf-figures-version");
		if (!numbers.length) {
			$bar.remove();
			continue;
		}
		if (!$bar.length) {
			$bar = $(`<div class="mf-figures-version d-flex align-items-center mb-2" style="gap:8px">
				<span class="small text-muted">${esc(__("Figures of"))}</span>
				<select class="form-control input-xs mf-figures-version-select" style="max-width:180px"></select>
			</div>`).insertBefore(field.$wrapper);
			$bar.find("select").on("change", function () {
				marketing_flows.load_figures_of_version(frm, $(this).val());
			});
		}
		const options = [`<option value="">${esc(__("All versions"))}</option>`]
			.concat(numbers.map((n) => `<option value="${esc(String(n))}">${esc(__("Version {0}", [n]))}</option>`))
			.join("");
		$bar.find("select").html(options).val(String(current));
	}
};

marketing_flows.load_figures_of_version = function (frm, version) {
	frm.mf_figures_version = version || "";
	$(frm.wrapper).find(".mf-figures-version-select").val(frm.mf_figures_version);
	const seq = (frm.mf_figures_seq = (frm.mf_figures_seq || 0) + 1);
	return frm.call("get_all_figures", { version: frm.mf_figures_version || null }).then((r) => {
		if (seq !== frm.mf_figures_seq) return; // another version chosen meanwhile
		frm.doc.__onload = frm.doc.__onload || {};
		frm.doc.__onload.figures = r.message || {};
		frm.doc.__onload.figures_version = frm.mf_figures_version;
		marketing_flows.render_overview(frm);
		marketing_flows.render_diagram(frm);
		if (frm.mf_reports_drawn) marketing_flows.render_reports(frm, true);
	});
};

frappe.ui.form.on("Marketing Flow", {
	refresh(frm) {
		if (frm.is_new()) return;
		if (frm.mf_versions_for !== frm.doc.name) {
			// another flow in the same form: its own versions and all its figures
			frm.mf_versions_for = frm.doc.name;
			frm.mf_versions = null;
			frm.mf_figures_version = "";
			frm.mf_compare = null;
			frm.mf_versions_drawn = false;
		}
		marketing_flows.draw_figures_version_selects(frm);
		// the form came with the figures of all versions: those of the chosen one again
		if (frm.mf_figures_version) marketing_flows.load_figures_of_version(frm, frm.mf_figures_version);
		if (frm.mf_versions_drawn) marketing_flows.render_versions(frm);
	},
	on_tab_change(frm) {
		// drawn once when first shown (a tab shown fires this twice); again at every refresh
		const tab = frm.get_active_tab && frm.get_active_tab();
		if (tab && tab.df && tab.df.fieldname === "versions_tab" && !frm.mf_versions_drawn) {
			marketing_flows.render_versions(frm);
		}
	},
});
