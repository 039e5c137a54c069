"""What lesson 4 counts: one message of each size sent over a loopback TCP connection.

Each send() is one tcp_sendmsg() call. A thread of this process reads the other end
(receiving sends nothing), so the bytes this process sends are exactly sum(sizes),
in len(sizes) send() calls.
"""
import socket
import threading
import time
from gettext import gettext as _


def run(sizes=(100, 2000, 30000)):
    sizes = [int(s) for s in (sizes if isinstance(sizes, (list, tuple)) else [sizes])]
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _address = server.accept()
    received = []

    def drain():
        total = sum(sizes)
        while sum(received) < total:
            data = peer.recv(65536)
            if not data:
                break
            received.append(len(data))

    reader = threading.Thread(target=drain)
    reader.start()
    sent = []
    for size in sizes:
        sent.append(client.send(b"x" * size))  # blocking: one send() call sends it all
        time.sleep(0.05)
    reader.join(timeout=5)
    port = client.getsockname()[1]
    for s in (client, peer, server):
        s.close()
    return {"ops": len(sizes), "what": _("TCP send() calls"), "sizes": sent, "bytes": sum(sent), "sport": port}
