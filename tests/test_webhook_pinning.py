"""Webhooks connect to the very address that was checked: one DNS lookup per call, so a name
that answers an allowed address to the check and 127.0.0.1 a moment later (DNS rebinding)
never reaches the inside. The Host header, TLS SNI and the certificate check keep the name.

Name resolution is faked at the resolver (`socket.getaddrinfo`, which both our check and
requests/urllib3 call): the fake answers a scripted sequence for one test name and passes every
other lookup through. The flow's runner runs in this process (`runner.process_due`), the way a
worker would, so that the fake resolver is the one it asks."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import frappe
import pytest

from factories import make_contact, participant, running_flow, step, unique
from receivers import QuietHandler


class Receiver:
	"""An HTTP(S) server on one address and port, recording each request's Host header, TLS
	server name (SNI) and the address it was connected to."""

	def __init__(self, address: str, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
		self.requests: list[dict] = []
		self.server_names: list[str | None] = []
		receiver = self

		class Handler(QuietHandler):
			def _handle(self):
				body = self.body()
				receiver.requests.append(
					{
						"path": self.path,
						"host": self.headers.get("Host"),
						"local": self.connection.getsockname()[0],
						"body": body,
					}
				)
				self.send_response(200)
				self.send_header("Content-Type", "application/json")
				self.end_headers()
				self.wfile.write(b'{"ok": true}')

			do_GET = do_POST = _handle

		self.server = ThreadingHTTPServer((address, port), Handler)
		if tls:
			tls.sni_callback = lambda sock, name, ctx: receiver.server_names.append(name)
			self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
		self.port = self.server.server_address[1]
		self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
		self.thread.start()

	def stop(self) -> None:
		self.server.shutdown()
		self.server.server_close()


def port_free_on_both(*addresses: str) -> int:
	"""A port free on every address given (bound to each separately)."""
	for _ in range(50):
		with socket.socket() as s:
			s.bind((addresses[0], 0))
			port = s.getsockname()[1]
		try:
			for address in addresses[1:]:
				with socket.socket() as s:
					s.bind((address, port))
			return port
		except OSError:
			continue
	raise RuntimeError("no common free port")


@pytest.fixture
def fake_dns(monkeypatch):
	"""`fake_dns(name, [answer1, answer2, ...])`: lookups of `name` get the answers in turn (a
	list of IPs each; the last one repeats). `fake_dns.asked[name]` counts the lookups."""
	real = socket.getaddrinfo
	scripts: dict[str, list[list[str]]] = {}
	asked: dict[str, int] = {}

	def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
		name = host.decode() if isinstance(host, bytes) else host
		if name not in scripts:
			return real(host, port, family, type, proto, flags)
		n = asked[name] = asked.get(name, 0) + 1
		answers = scripts[name]
		ips = answers[min(n, len(answers)) - 1]
		return [
			(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0))
			for ip in ips
		]

	def script(name: str, answers: list[list[str]]) -> None:
		scripts[name] = answers

	script.asked = asked
	monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
	return script


def run_due(flow: str) -> None:
	"""Run the flow's due participants here, as a worker's runner job would."""
	from marketing_flows.engine.running import runner

	frappe.db.commit()
	try:
		runner.process_due(flow)
	finally:
		frappe.db.sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
		frappe.db.rollback()


def webhook_flow(url: str):
	return running_flow([step("hook", "Webhook", webhook_url=url, webhook_timeout=5)])


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_it(settings, fake_dns, worker):
	"""rebind.test answers 127.0.0.2 (allowed) to the first lookup and 127.0.0.1 (not allowed:
	Redis, the database, the site's own services live there) to every later one. The call goes
	to 127.0.0.2, with the name in the Host header; 127.0.0.1 gets nothing."""
	port = port_free_on_both("127.0.0.1", "127.0.0.2")
	checked, inside = Receiver("127.0.0.2", port), Receiver("127.0.0.1", port)
	try:
		settings.set("Marketing Flow Settings", webhook_allowed_hosts="127.0.0.2", max_attempts=1)
		path = f"/rebind-{unique('x')}"
		flow = webhook_flow(f"http://rebind.test:{port}{path}")
		contact = make_contact()
		flow.enroll([contact])
		fake_dns("rebind.test", [["127.0.0.2"], ["127.0.0.1"]])
		run_due(flow.name)
		assert inside.requests == [], "the request went to an address nobody checked"
		assert [(r["path"], r["host"], r["local"]) for r in checked.requests] == [
			(path, f"rebind.test:{port}", "127.0.0.2")
		]
		assert fake_dns.asked["rebind.test"] == 1
		p = participant(flow.name, contact)
		assert p.status == "Completed", p.last_error
	finally:
		checked.stop()
		inside.stop()
	worker()  # the runner job the enrolment queued finds nothing left to do


def test_a_name_whose_addresses_are_refused_is_never_requested(settings, fake_dns, worker):
	"""Every address of the one lookup is checked: one internal address among public ones is
	enough to refuse the call, and no connection is made, to any of them."""
	port = port_free_on_both("127.0.0.1")
	inside = Receiver("127.0.0.1", port)
	try:
		settings.set("Marketing Flow Settings", webhook_allowed_hosts="", max_attempts=1)
		path = f"/refused-{unique('x')}"
		flow = webhook_flow(f"http://refused.test:{port}{path}")
		contact = make_contact()
		flow.enroll([contact])
		fake_dns("refused.test", [["93.184.215.14", "127.0.0.1"]])
		run_due(flow.name)
		assert inside.requests == []
		p = participant(flow.name, contact)
		assert p.status == "Stalled"
		assert "points to 127.0.0.1, an internal address" in p.last_error
		assert fake_dns.asked["refused.test"] == 1
	finally:
		inside.stop()
	worker()


def make_tls(names: list[str], tmp_path) -> tuple[ssl.SSLContext, str]:
	"""A server TLS context with a certificate for `names` signed by a fresh CA; the CA's file."""
	from cryptography import x509
	from cryptography.hazmat.primitives import hashes, serialization
	from cryptography.hazmat.primitives.asymmetric import ec
	from cryptography.x509.oid import NameOID

	now = datetime.datetime.now(datetime.timezone.utc)
	ca_key = ec.generate_private_key(ec.SECP256R1())
	ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Flows Test CA")])
	ca = (
		x509.CertificateBuilder()
		.subject_name(ca_name)
		.issuer_name(ca_name)
		.public_key(ca_key.public_key())
		.serial_number(x509.random_serial_number())
		.not_valid_before(now - datetime.timedelta(days=1))
		.not_valid_after(now + datetime.timedelta(days=1))
		.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
		.add_extension(
			x509.KeyUsage(
				digital_signature=True,
				content_commitment=False,
				key_encipherment=False,
				data_encipherment=False,
				key_agreement=False,
				key_cert_sign=True,
				crl_sign=True,
				encipher_only=False,
				decipher_only=False,
			),
			critical=True,
		)
		.add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
		.sign(ca_key, hashes.SHA256())
	)
	key = ec.generate_private_key(ec.SECP256R1())
	cert = (
		x509.CertificateBuilder()
		.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
		.issuer_name(ca_name)
		.public_key(key.public_key())
		.serial_number(x509.random_serial_number())
		.not_valid_before(now - datetime.timedelta(days=1))
		.not_valid_after(now + datetime.timedelta(days=1))
		.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
		.add_extension(
			x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
		)
		.sign(ca_key, hashes.SHA256())
	)
	ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
	ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
	cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
	key_file.write_bytes(
		key.private_bytes(
			serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
		)
	)
	context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	context.load_cert_chain(cert_file, key_file)
	return context, str(ca_file)


def test_https_keeps_the_name_for_sni_and_the_certificate(settings, fake_dns, tmp_path):
	"""Connected to the pinned address, TLS still speaks to the name: the server gets it as SNI
	and its certificate is verified against it (a certificate for another name is refused)."""
	from marketing_flows.engine.sending import netguard

	settings.set("Marketing Flow Settings", webhook_allowed_hosts="127.0.0.1")
	tls, ca_file = make_tls(["hooks.pinned.test"], tmp_path)
	server = Receiver("127.0.0.1", tls=tls)
	try:
		fake_dns("hooks.pinned.test", [["127.0.0.1"], ["127.0.0.3"]])
		url = f"https://hooks.pinned.test:{server.port}/tls"
		response = netguard.request("POST", url, data=b"{}", timeout=5, verify=ca_file)
		assert response.status_code == 200
		assert server.server_names == ["hooks.pinned.test"]
		assert [(r["host"], r["local"]) for r in server.requests] == [
			(f"hooks.pinned.test:{server.port}", "127.0.0.1")
		]
		assert fake_dns.asked["hooks.pinned.test"] == 1

		fake_dns("other.pinned.test", [["127.0.0.1"]])
		with pytest.raises(Exception, match="(?i)certificate|hostname"):
			netguard.request(
				"POST", f"https://other.pinned.test:{server.port}/tls", timeout=5, verify=ca_file
			)
		assert len(server.requests) == 1
	finally:
		server.stop()


def test_redirects_are_not_followed(settings, fake_dns):
	"""A 30x answer is the call's answer: following it would reach an address nobody checked."""
	from marketing_flows.engine.sending import netguard

	settings.set("Marketing Flow Settings", webhook_allowed_hosts="127.0.0.2")
	port = port_free_on_both("127.0.0.1", "127.0.0.2")
	inside = Receiver("127.0.0.1", port)

	class Redirect(BaseHTTPRequestHandler):
		def log_message(self, *args):
			pass

		def do_GET(self):
			self.send_response(302)
			self.send_header("Location", f"http://127.0.0.1:{port}/inside")
			self.end_headers()

	outside = ThreadingHTTPServer(("127.0.0.2", port), Redirect)
	threading.Thread(target=outside.serve_forever, daemon=True).start()
	try:
		fake_dns("redirect.test", [["127.0.0.2"]])
		response = netguard.request("GET", f"http://redirect.test:{port}/go", timeout=5, allow_redirects=True)
		assert response.status_code == 302
		assert inside.requests == []
	finally:
		outside.shutdown()
		outside.server_close()
		inside.stop()
