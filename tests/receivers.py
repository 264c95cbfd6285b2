"""Local receivers for outside services: an SMTP server (aiosmtpd) and an HTTP server that
records requests (SMS gateway, webhooks) and can be told to fail."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


class SMTPReceiver:
	"""Collects every message delivered to it, parsed, with when it was accepted and over which
	connection. `answer(address, *replies)` makes the next RCPT TO of that address get those
	replies (e.g. "550 5.1.1 User unknown"), one per attempt; `delay` (seconds) slows each DATA
	down like a remote server."""

	def __init__(self, port: int | None = None) -> None:
		from aiosmtpd.controller import Controller

		self.messages: list[email.message.EmailMessage] = []
		self.raw: list[bytes] = []  # each message as it came over the wire
		self.arrivals: list[tuple[float, str]] = []  # (time.time(), Message-Id) per acceptance
		self.peers: set[tuple] = set()  # (host, port) of the connections that delivered
		self.replies: dict[str, list[str]] = {}
		self.delay = 0.0
		self.port = port or free_port()
		receiver = self

		class Handler:
			async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
				planned = receiver.replies.get(address.lower())
				if planned:
					return planned.pop(0)
				envelope.rcpt_tos.append(address)
				return "250 OK"

			async def handle_DATA(self, server, session, envelope):
				if receiver.delay:
					import asyncio

					await asyncio.sleep(receiver.delay)
				msg = email.message_from_bytes(envelope.content, policy=policy.default)
				msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
				receiver.messages.append(msg)
				receiver.raw.append(envelope.original_content or envelope.content)
				receiver.arrivals.append((time.time(), str(msg["Message-Id"])))
				receiver.peers.add(tuple(session.peer))
				return "250 OK"

		self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

	def answer(self, address: str, *replies: str) -> None:
		self.replies[address.lower()] = list(replies)

	def start(self) -> SMTPReceiver:
		self.controller.start()
		return self

	def stop(self) -> None:
		self.controller.stop()

	def to(self, address: str) -> list[email.message.EmailMessage]:
		return [m for m in self.messages if address.lower() in m["X-Envelope-To"].lower()]

	@staticmethod
	def html(msg: email.message.EmailMessage) -> str:
		part = msg.get_body(preferencelist=("html", "plain"))
		return part.get_content() if part else ""


class QuietHandler(BaseHTTPRequestHandler):
	"""A request handler that logs nothing and reads the request's body."""

	def log_message(self, *args):
		pass

	def body(self) -> str:
		length = int(self.headers.get("Content-Length") or 0)
		return self.rfile.read(length).decode() if length else ""


class HTTPReceiver:
	"""Records requests; `fail_next(n, status)` makes the next n requests fail."""

	def __init__(self) -> None:
		self.requests: list[dict] = []
		self.failures: list[int] = []
		self.delay = 0.0  # seconds to wait before answering (a slow service)
		self.arrived: list[str] = []  # paths of requests as they arrive, before any delay
		self.lock = threading.Lock()
		receiver = self

		class Handler(QuietHandler):
			def _handle(self):
				body = self.body()
				parsed = urlparse(self.path)
				record = {
					"method": self.command,
					"path": parsed.path,
					"query": {k: v[0] for k, v in parse_qs(parsed.query).items()},
					"headers": {k.lower(): v for k, v in self.headers.items()},
					"body": body,
				}
				try:
					record["json"] = json.loads(body) if body else None
				except ValueError:
					record["json"] = None
				with receiver.lock:
					receiver.arrived.append(parsed.path)
				if receiver.delay:
					import time

					time.sleep(receiver.delay)
				with receiver.lock:
					status = receiver.failures.pop(0) if receiver.failures else 200
					record["status"] = status
					receiver.requests.append(record)
				self.send_response(status)
				self.send_header("Content-Type", "application/json")
				self.end_headers()
				self.wfile.write(b'{"ok": true}' if status < 400 else b'{"error": "failing on purpose"}')

			do_GET = do_POST = do_PUT = _handle

		self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
		self.port = self.server.server_address[1]
		self.url = f"http://127.0.0.1:{self.port}"
		self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

	def start(self) -> HTTPReceiver:
		self.thread.start()
		return self

	def stop(self) -> None:
		self.server.shutdown()

	def fail_next(self, n: int, status: int = 500) -> None:
		with self.lock:
			self.failures.extend([status] * n)

	def received(self, path: str | None = None) -> list[dict]:
		with self.lock:
			return [r for r in self.requests if path is None or r["path"] == path]


class IMAPServer:
	"""A real IMAP server (Dovecot, from Debian's dovecot-imapd) on a free local port, run as the
	current user, with one mailbox: `append(raw)` puts a message in its INBOX."""

	DOVECOT = "/usr/sbin/dovecot"

	def __init__(self, user: str = "bounces@example.com", password: str = "bounce-secret") -> None:
		import getpass
		import tempfile

		self.user, self.password = user, password
		self.port = free_port()
		self.dir = tempfile.mkdtemp(prefix="mf-dovecot-")
		me = getpass.getuser()
		with open(f"{self.dir}/users", "w") as f:
			f.write(f"{user}:{{PLAIN}}{password}\n")
		self.config = f"{self.dir}/dovecot.conf"
		with open(self.config, "w") as f:
			f.write(
				f"""base_dir = {self.dir}/run
state_dir = {self.dir}/state
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {me}
default_internal_group = {me}
default_login_user = {me}
log_path = {self.dir}/dovecot.log
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/users
}}
userdb {{
  driver = static
  args = uid={me} gid={me} home={self.dir}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
  user = {me}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {me}
}}
service auth-worker {{
  user = {me}
}}
"""
			)

	def start(self) -> IMAPServer:
		import subprocess

		subprocess.run([self.DOVECOT, "-c", self.config], check=True)
		for _ in range(50):
			try:
				socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
				return self
			except OSError:
				time.sleep(0.1)
		raise RuntimeError(f"Dovecot did not listen on {self.port}; see {self.dir}/dovecot.log")

	def stop(self) -> None:
		import shutil
		import subprocess

		subprocess.run([self.DOVECOT, "-c", self.config, "stop"], check=False)
		shutil.rmtree(self.dir, ignore_errors=True)

	def append(self, raw: bytes | str) -> None:
		import imaplib

		data = raw.encode() if isinstance(raw, str) else raw
		data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
		imap = imaplib.IMAP4("127.0.0.1", self.port)
		try:
			imap.login(self.user, self.password)
			imap.append("INBOX", None, None, data)
		finally:
			imap.logout()
