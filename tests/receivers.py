"""Local receivers for outside services: an SMTP server (aiosmtpd) and an HTTP server that
records requests (SMS gateway, webhooks) and can be told to fail."""

from __future__ import annotations

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def free_port() -> int:
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


class SMTPReceiver:
	"""Collects every message delivered to it, parsed."""

	def __init__(self) -> None:
		from aiosmtpd.controller import Controller

		self.messages: list[email.message.EmailMessage] = []
		self.port = free_port()
		receiver = self

		class Handler:
			async def handle_DATA(self, server, session, envelope):
				msg = email.message_from_bytes(envelope.content, policy=policy.default)
				msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
				receiver.messages.append(msg)
				return "250 OK"

		self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

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


class HTTPReceiver:
	"""Records requests; `fail_next(n, status)` makes the next n requests fail."""

	def __init__(self) -> None:
		self.requests: list[dict] = []
		self.failures: list[int] = []
		self.delay = 0.0  # seconds to wait before answering (a slow service)
		self.arrived: list[str] = []  # paths of requests as they arrive, before any delay
		self.lock = threading.Lock()
		receiver = self

		class Handler(BaseHTTPRequestHandler):
			def log_message(self, *args):
				pass

			def _handle(self):
				length = int(self.headers.get("Content-Length") or 0)
				body = self.rfile.read(length).decode() if length else ""
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
