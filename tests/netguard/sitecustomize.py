"""Loaded by every Python process of a guarded test run (PYTHONPATH): records and refuses any network
access that is not loopback or a Unix socket, into the file named by EDGEYOLO_NET_LOG."""

import ipaddress
import os
import socket

_LOG = os.environ.get("EDGEYOLO_NET_LOG")


def _record(what: str) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {what}\n")


def _loopback_host(host) -> bool:
    if host in (None, "", "localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


if _LOG:
    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo = socket.getaddrinfo

    def _check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback_host(address[0]):
            _record(f"connect {address!r}")
            raise OSError(101, f"network access blocked by the test guard: {address!r}")

    def connect(self, address):
        _check(self, address)
        return _connect(self, address)

    def connect_ex(self, address):
        _check(self, address)
        return _connect_ex(self, address)

    def sendto(self, data, *args):
        _check(self, args[-1])
        return _sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback_host(host if not isinstance(host, bytes) else host.decode()):
            _record(f"resolve {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"name resolution blocked by the test guard: {host!r}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
