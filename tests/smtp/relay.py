#!/usr/bin/env python3
"""SMTP -> LMTP relay for supportd's integration tests (tests/common/mod.rs,
`Smtp`).

A real SMTP server (aiosmtpd) on 127.0.0.1 that delivers every message into
the test Dovecot through its LMTP listener, so a test reads over IMAP what a
recipient actually received.

* RCPT: `--fail-rcpt` addresses get 450; every other recipient is checked
  with an LMTP `RCPT TO` and LMTP's answer is mirrored (unknown user: 550
  5.1.1; LMTP unreachable: 451).
* DATA: one LMTP transaction per recipient; 250 only after LMTP accepted the
  message for every recipient (so it is in the mailbox when the client sees
  250). If LMTP refused it for all recipients, its first reply is mirrored;
  if only some failed, the answer is still 250 (the others already have the
  mail; a retry would duplicate it) and the failures are logged to stderr
  and in the log line's "failed" field.
* After each accepted message one JSON line is appended to `--log`:
  {"mail_from" ("" for the null sender), "rcpts", "message_id", "subject",
   "size", "tls", "auth_user", "failed", "time"}.
* `--tls-cert/--tls-key`: offer STARTTLS (and then require it before MAIL,
  and before AUTH). With `--implicit-tls` the listening socket speaks TLS
  from the first byte (SMTPS) instead.
* `--auth USER:PASS`: AUTH PLAIN/LOGIN required before MAIL (530 otherwise).

Prints `READY <port>` on stdout once listening (port 0 = pick a free one).
SIGTERM/SIGINT: stop listening, drop open connections, exit 0.
"""

import argparse
import asyncio
import email.parser
import email.policy
import json
import logging
import signal
import smtplib
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("relay")


def reply_text(msg):
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return " ".join(str(msg).split())


class Relay:
    def __init__(self, args):
        self.lmtp_port = args.lmtp_port
        self.fail_rcpt = {bare(a) for a in (args.fail_rcpt or [])}
        self.log_path = args.log
        self.implicit_tls = args.implicit_tls

    def _lmtp(self):
        return smtplib.LMTP(
            "127.0.0.1", self.lmtp_port, local_hostname="localhost", timeout=30
        )

    # -- RCPT ---------------------------------------------------------------
    def _verify(self, address):
        """LMTP RCPT check: (code, text)."""
        try:
            with self._lmtp() as lmtp:
                code, msg = lmtp.ehlo()
                if code != 250:
                    return 451, f"4.4.1 LMTP LHLO failed: {code} {reply_text(msg)}"
                code, msg = lmtp.mail("")
                if code != 250:
                    return code, reply_text(msg)
                code, msg = lmtp.rcpt(address)
                return code, reply_text(msg)
        except (OSError, smtplib.SMTPException) as e:
            return 451, f"4.4.1 LMTP unavailable: {e}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if bare(address) in self.fail_rcpt:
            log.info("RCPT %s: 450 (--fail-rcpt)", address)
            return f"450 4.2.0 <{address}>: mailbox temporarily unavailable (test: --fail-rcpt)"
        loop = asyncio.get_running_loop()
        code, text = await loop.run_in_executor(None, self._verify, address)
        if code != 250:
            log.info("RCPT %s: LMTP said %s %s", address, code, text)
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    # -- DATA ---------------------------------------------------------------
    def _deliver_one(self, mail_from, rcpt, data, mail_options):
        try:
            with self._lmtp() as lmtp:
                lmtp.ehlo()
                opts = []
                for o in mail_options:
                    key = o.split("=", 1)[0].upper()
                    if key == "BODY" and lmtp.has_extn("8bitmime"):
                        opts.append(o)
                    elif key == "SMTPUTF8" and lmtp.has_extn("smtputf8"):
                        opts.append(o)
                lmtp.sendmail(null_sender(mail_from), [rcpt], data, mail_options=opts)
            return 250, "ok"
        except smtplib.SMTPRecipientsRefused as e:
            code, msg = e.recipients.get(rcpt, (554, b"refused"))
            return code, reply_text(msg)
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, reply_text(e.smtp_error)
        except (OSError, smtplib.SMTPException) as e:
            return 451, f"4.4.1 LMTP unavailable: {e}"

    def _deliver_all(self, envelope):
        data = envelope.original_content
        if data is None:
            data = envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        results = []
        for rcpt in envelope.rcpt_tos:
            code, text = self._deliver_one(
                envelope.mail_from, rcpt, data, envelope.mail_options
            )
            results.append((rcpt, code, text))
        return data, results

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        data, results = await loop.run_in_executor(None, self._deliver_all, envelope)
        ok = [r for r, code, _ in results if code == 250]
        failed = [(r, code, text) for r, code, text in results if code != 250]
        for r, code, text in failed:
            log.warning("LMTP delivery to %s failed: %s %s", r, code, text)
        if not ok:
            _, code, text = failed[0]
            return f"{code} {text}"
        self._append_log(session, envelope, data, ok, failed)
        return "250 2.0.0 OK: delivered via LMTP"

    def _append_log(self, session, envelope, data, ok, failed):
        if not self.log_path:
            return
        message_id = subject = None
        try:
            headers = email.parser.BytesParser(policy=email.policy.default).parsebytes(
                data, headersonly=True
            )
            if headers.get("Message-ID") is not None:
                message_id = str(headers.get("Message-ID")).strip()
            if headers.get("Subject") is not None:
                subject = str(headers.get("Subject"))
        except Exception as e:  # malformed headers must not lose the log line
            log.warning("header parse failed: %s", e)
        auth_user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        entry = {
            "mail_from": null_sender(envelope.mail_from),
            "rcpts": ok,
            "message_id": message_id,
            "subject": subject,
            "size": len(data),
            "tls": self.implicit_tls or session.ssl is not None,
            "auth_user": auth_user,
            "failed": [{"rcpt": r, "code": c, "text": t} for r, c, t in failed],
            "time": time.time(),
        }
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def null_sender(mail_from):
    """aiosmtpd reports `MAIL FROM:<>` as "<>"; use "" for it."""
    return "" if mail_from in (None, "", "<>") else mail_from


def bare(address):
    return address.strip().strip("<>").lower()


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode("utf-8", "replace") == user
            and auth_data.password.decode("utf-8", "replace") == password
        )
        log.info("AUTH %s: %s", mechanism, "ok" if ok else "failed")
        # handled=False: let aiosmtpd send 535 on failure (the default,
        # handled=True, means "the authenticator replied itself": no reply).
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticator


async def main(args):
    handler = Relay(args)
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)

    smtp_kwargs = dict(
        hostname="localhost",
        ident="supportd-test-relay",
        enable_SMTPUTF8=True,
        timeout=60,
    )
    if tls_context is not None and not args.implicit_tls:
        # STARTTLS: like a real submission server, TLS is required before
        # AUTH and before MAIL.
        smtp_kwargs.update(tls_context=tls_context, require_starttls=True)
        auth_require_tls = True
    else:
        # Plain (loopback) or implicit TLS (aiosmtpd does not know the
        # socket is already encrypted, so it must not insist on STARTTLS).
        auth_require_tls = False
    if args.auth:
        user, _, password = args.auth.partition(":")
        smtp_kwargs.update(
            authenticator=make_authenticator(user, password),
            auth_required=True,
            auth_require_tls=auth_require_tls,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, loop=loop, **smtp_kwargs),
        host="127.0.0.1",
        port=args.port,
        ssl=tls_context if args.implicit_tls else None,
        reuse_address=True,
    )
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    print(f"READY {port}", flush=True)
    log.info(
        "listening on 127.0.0.1:%s -> LMTP 127.0.0.1:%s (tls=%s implicit=%s auth=%s)",
        port,
        args.lmtp_port,
        bool(tls_context),
        args.implicit_tls,
        bool(args.auth),
    )
    await stop.wait()
    log.info("signal received, shutting down")
    server.close()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True, help="SMTP port (0 = any free one)")
    p.add_argument("--lmtp-port", type=int, required=True, help="Dovecot LMTP port on 127.0.0.1")
    p.add_argument("--tls-cert", help="PEM certificate chain (enables STARTTLS)")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--implicit-tls", action="store_true", help="SMTPS instead of STARTTLS")
    p.add_argument("--auth", metavar="USER:PASS", help="require AUTH PLAIN/LOGIN")
    p.add_argument("--fail-rcpt", action="append", metavar="ADDR", help="answer 450 at RCPT")
    p.add_argument("--log", help="append one JSON line per accepted message")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.implicit_tls and not args.tls_cert:
        p.error("--implicit-tls needs --tls-cert/--tls-key")
    return args


class _DropNoise(logging.Filter):
    def filter(self, record):
        # Logged by aiosmtpd itself on every successful AUTH.
        return "login_data is deprecated" not in record.getMessage()


if __name__ == "__main__":
    # auth without TLS is deliberate here (plain loopback / implicit TLS).
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").addFilter(_DropNoise())
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(main(parse_args()))
    except OSError as e:
        # e.g. EADDRINUSE on a restart: the harness reads this from stderr.
        print(f"relay.py: {e}", file=sys.stderr, flush=True)
        sys.exit(98 if getattr(e, "errno", None) == 98 else 1)
