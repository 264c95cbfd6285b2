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

frappe.ui.form.on("Marketing Flow Content", {
	refresh: show_sms_count,
	channel: show_sms_count,
	body: show_sms_count,
});
