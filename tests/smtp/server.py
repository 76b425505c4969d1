"""A real SMTP server for the email tests: aiosmtpd with its Maildir handler, on 127.0.0.1.

  server.py --port P --maildir DIR [--cert PEM --key PEM] [--tls starttls|implicit]
            [--auth USER:PASSWORD]

`--tls starttls` offers STARTTLS and refuses mail before it; `--tls implicit` is TLS from the
first byte (smtps). `--auth` requires that login. Prints "ready" when it accepts connections and
runs until it is killed.
"""

import argparse
import mailbox
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--tls", choices=["starttls", "implicit"])
    p.add_argument("--auth")
    a = p.parse_args()

    mailbox.Maildir(a.maildir, create=True)
    kwargs = {}
    context = None
    if a.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
    if a.tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
            return AuthResult(success=ok)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(a.tls))
    controller = Controller(
        Mailbox(a.maildir),
        hostname="127.0.0.1",
        port=a.port,
        ssl_context=context if a.tls == "implicit" else None,
        server_hostname="localhost",
        server_kwargs=kwargs,
    )
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    sys.exit(main())
