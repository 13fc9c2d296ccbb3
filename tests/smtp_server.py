"""A real SMTP server for the tests, in a process of its own: aiosmtpd on 127.0.0.1, on a port
the system picks (printed as the first line of standard output), each message accepted written
to a Maildir (``python -m tests.smtp_server MAILDIR``).

Recipients decide the answer, so tests reach real SMTP failures: one whose local part starts
with ``refuse`` is refused (550), ``later`` deferred (451); anyone else is accepted.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, Envelope, Session


class Handler(Mailbox):
    async def handle_RCPT(  # noqa: N802 -- aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        local = address.partition("@")[0].lower()
        if local.startswith("refuse"):
            return "550 5.1.1 no such mailbox"
        if local.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def serve(maildir: str) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    handler = Handler(Path(maildir))
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="smtp.test"), sock=listener
    )
    print(listener.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
