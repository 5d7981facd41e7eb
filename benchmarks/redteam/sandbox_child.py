"""Runs one loader on one sample inside the sandbox; started by verify.py, never imported.

Order: a private network namespace with only loopback up (so the listener and
any connection stay inside it), a TCP listener on the sample port that logs
every connection, an audit hook that logs process, socket and file events,
then the loader. Results are files in the current folder; the parent reads them.
"""

import ctypes
import fcntl
import json
import socket
import struct
import sys
import threading
import time

spec = json.load(open(sys.argv[1]))
notes = {"netns": False}


def isolate():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0 and libc.unshare(0x10000000 | 0x40000000) != 0:
        return False
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH", b"lo", flags | 1))
    sock.close()
    return True


try:
    notes["netns"] = isolate()
except OSError as exc:
    notes["netns_error"] = str(exc)
if not notes["netns"] and not spec.get("allow_host_loopback"):
    json.dump(notes, open("sandbox.json", "w"))
    sys.exit(3)


def listen():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", spec["port"]))
    srv.listen(8)
    ready.set()
    while True:
        conn, peer = srv.accept()
        with open("net.log", "a") as log:
            log.write(f"{peer[0]}:{peer[1]}\n")
        try:
            conn.settimeout(1)
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        conn.close()


ready = threading.Event()
threading.Thread(target=listen, daemon=True).start()
ready.wait(5)

EVENTS = {"os.system", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork", "socket.connect"}
audit = open("audit.log", "a", buffering=1)


def hook(event, args):
    if event in EVENTS or (event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+")):
        try:
            audit.write(json.dumps([event, repr(args)[:200]]) + "\n")
        except Exception:
            pass


json.dump(notes, open("sandbox.json", "w"))
sys.addaudithook(hook)
error = None
try:
    exec(compile(spec["code"], "<loader>", "exec"), {"path": spec["path"], "__name__": "__loader__"})
except BaseException as exc:  # the payload often breaks the loader after it ran: that is fine
    error = f"{type(exc).__name__}: {exc}"[:500]
time.sleep(spec.get("settle", 0.5))
open("loader.json", "w").write(json.dumps({"error": error}))
