"""Whether the notebook server is reachable from this machine only, and only with its token.

The address is bound only if every address it resolves to is loopback (a name is resolved here, and Jupyter is
given the number); the port is checked before anything starts; the URL is printed only once the server refused a
request without the token (403) and answered one with it (200).
"""

import errno
import http.client
import ipaddress
import socket
import time

from ..errors import EnvironmentNotReady, UsageError
from ..language import _

START_TIMEOUT = 60  # seconds for JupyterLab to answer its first request


def check_loopback(address):
    """The address to bind for `address` (a number or a name): only if every address it resolves to is loopback.

    A kernel here runs as root, and anyone who reaches the port can load BPF. A name is resolved here (localhost
    goes through /etc/hosts, which may say otherwise) and Jupyter is given the number, so that nothing resolves
    it again: an IPv4 loopback address if there is one, else the first.
    """
    try:
        found = list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(address, None, type=socket.SOCK_STREAM)))
        reason = _("no address")
    except (socket.gaierror, UnicodeError, ValueError) as err:
        found, reason = [], err.args[-1] if isinstance(err, socket.gaierror) and err.args else str(err)
    if not found:
        raise UsageError(_("Refusing to serve the notebooks on {address}: it resolves to no address ({reason}), and "
                           "only loopback addresses are served.").format(address=address or repr(address),
                                                                         reason=reason),
                         fix=_("Leave --ip out (127.0.0.1), or give ::1 or localhost."))
    if not all(_is_loopback(a) for a in found):
        shown = address if found == [address] else _("{address} (which resolves to {addresses})").format(
            address=address, addresses=", ".join(found))
        raise UsageError(_("Refusing to serve the notebooks on {address}: the kernels run as root, so anyone who "
                           "reaches that port could run any code on this machine.").format(address=shown),
                         fix=_("Keep 127.0.0.1 and reach it from another machine through SSH: "
                               "ssh -L 8888:127.0.0.1:8888 USER@HOST, then open the printed URL locally."))
    return next((a for a in found if ":" not in a), found[0])


def _is_loopback(text):
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:  # e.g. an IPv6 address with a scope (fe80::1%eth0)
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1: loopback only on some Pythons; refused
        return False
    return ip.is_loopback


def free_port(address="127.0.0.1"):
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def check_port(address, port):
    """A usage error now, rather than Jupyter's log line and exit code later, if `port` cannot be listened on."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Jupyter's own listening socket does
        try:
            s.bind((address, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise UsageError(_("Port {port} is already in use on {address}.").format(port=port, address=address),
                                 fix=_("Pick another with --port N, or leave --port out for a free one.")) from None
            raise UsageError(_("Cannot listen on {address} port {port}: {reason}.").format(
                address=address, port=port, reason=err.strerror),
                fix=_("Pick another with --port N, or leave --port out for a free one.")) from None
    return port


def http_status(address, port, path, token=None, timeout=5):
    """The HTTP status of GET path (the token, if any, in the Authorization header); no proxy, no redirect."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {token}"} if token else {})
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


def wait_until_guarded(proc, address, port, token, stopping=(), timeout=START_TIMEOUT):
    """Wait until the server answers, then check that it refuses /api/kernels without the token (403) and
    answers it with the token (200). Returns False if a signal (`stopping`) came first; raises if it stopped,
    did not answer in time, or answered without the token."""
    deadline = time.monotonic() + timeout
    while True:
        if stopping:
            return False
        code = proc.poll()
        if code is not None:
            raise EnvironmentNotReady(_("JupyterLab stopped before it served the notebooks (exit code {code}): "
                                        "its log above says why.").format(code=code),
                                      fix=_("Fix what the log says, then start it again: "
                                            "sudo .venv/bin/python -m runner notebook"))
        try:
            http_status(address, port, "/api/status", token, timeout=2)
            break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise EnvironmentNotReady(_("JupyterLab did not answer on {address} port {port} within {timeout} s, "
                                        "so the runner stopped it.").format(address=address, port=port,
                                                                            timeout=timeout),
                                      fix=_("Look at its log above, then start it again: "
                                            "sudo .venv/bin/python -m runner notebook"))
        time.sleep(0.1)
    try:
        without = http_status(address, port, "/api/kernels")
        with_token = http_status(address, port, "/api/kernels", token)
    except OSError as err:
        raise EnvironmentNotReady(_("JupyterLab stopped answering on {address} port {port} while the runner checked "
                                    "it ({error}).").format(address=address, port=port, error=err),
                                  fix=_("Look at its log above, then start it again: "
                                        "sudo .venv/bin/python -m runner notebook")) from None
    if (without, with_token) != (403, 200):
        raise EnvironmentNotReady(_("JupyterLab answered /api/kernels with HTTP {without} without its token and "
                                    "{with_token} with it (not 403 and 200), so the runner stopped it before "
                                    "printing its URL.").format(without=without, with_token=with_token),
                                  fix=_("Something in this Python's Jupyter overrides the runner's settings: reinstall "
                                        "it (sudo rm -rf .venv && sudo make notebook) and report it if it stays."))
    return True
