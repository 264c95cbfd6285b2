// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

// SMS texts: how many characters and how many SMS segments the text costs, shown under the
// body while typing (GSM-7: 160 characters in one SMS, 153 per segment beyond; any other
// character makes it Unicode: 70, then 67). Placeholders count as written.
const GSM7 =
	"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED = "^{}\\[~]|€\f";

function sms_length(text) {
	let units = 0;
	for (const ch of text) {
		if (GSM7.includes(ch)) units += 1;
		else if (GSM7_EXTENDED.includes(ch)) units += 2;
		else return { unicode: true, units: [...text].length };
	}
	return { unicode: false, units };
}

function sms_segments(text) {
	const { unicode, units } = sms_length(text);
	const single = unicode ? 70 : 160;
	const part = unicode ? 67 : 153;
	return { unicode, units, segments: units <= single ? (units ? 1 : 0) : Math.ceil(units / part) };
}

function show_sms_count(frm) {
	if (frm.doc.channel !== "SMS") {
		frm.set_df_property("body", "description", "");
		return;
	}
	const text = $("<div>")
		.html(frm.doc.body || "")
		.text()
		.trim();
	const { unicode, units, segments } = sms_segments(text);
	let message = __("{0} characters: {1} SMS", [units, segments]);
	if (unicode) message += " " + __("(Unicode: 70 characters per SMS)");
	frm.set_df_property("body", "description", message);
	frm.fields_dict.body.$wrapper.attr("data-sms-segments", segments);
}

// The content form's note when the email has no sender yet: a note, not an error (the content can
// be saved; a flow that sends it can't run until there is a sender).
function show_sender_note(frm) {
	const problem = frm.doc.channel === "Email" && !frm.doc.sender && frm.doc.__onload && frm.doc.__onload.sender_problem;
	frm.set_intro(""); // Frappe adds to the message area: clear it, or each refresh adds the note again
	frm.set_intro(
		problem
			? __("{0}. You can write and save this email now; a flow that sends it can't run until it has a sender.", [
					frappe.utils.escape_html(problem.charAt(0).toUpperCase() + problem.slice(1)),
			  ])
			: "",
		"blue"
	);
}

frappe.ui.form.on("Marketing Flow Content", {
	refresh(frm) {
		show_sms_count(frm);
		show_sender_note(frm);
	},
	channel(frm) {
		show_sms_count(frm);
		show_sender_note(frm);
	},
	body: show_sms_count,
	sender: show_sender_note,
});
