// The flow form's Flow Content tab: the emails and SMS texts the steps use, with the steps that
// use them.
frappe.provide("marketing_flows");

marketing_flows.render_contents = function (frm) {
	const esc = frappe.utils.escape_html;
	const contents = (frm.doc.__onload && frm.doc.__onload.contents) || [];
	const rows = contents.map((c) => {
		const steps = (frm.doc.steps || []).filter((s) => s.content === c.name).map((s) => esc(s.label || s.step_id)).join(", ");
		return `<tr><td><a href="/app/marketing-flow-content/${encodeURIComponent(c.name)}">${esc(c.content_name || c.name)}</a></td>
			<td>${esc(__(c.channel || ""))}</td><td>${esc(c.subject || "")}</td><td>${steps}</td></tr>`;
	}).join("");
	frm.get_field("content_html").$wrapper.html(`<table class="table table-sm mf-contents"><thead><tr>
		<th>${__("Content")}</th><th>${__("Channel")}</th><th>${__("Subject")}</th><th>${__("Used by")}</th></tr></thead>
		<tbody>${rows || `<tr><td colspan="4" class="text-muted">${__("No content used yet.")}</td></tr>`}</tbody></table>
		<button class="btn btn-xs btn-default mf-new-content">${__("New content")}</button>`);
	frm.get_field("content_html").$wrapper.find(".mf-new-content").on("click", () => frappe.new_doc("Marketing Flow Content"));
};
