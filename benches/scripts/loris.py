#!/usr/bin/env python3
"""The slow-loris attack: one address holds as many connections as it can in the HTTP phase,
sending its request one byte a second and reopening each socket the server closes, while a
prober from another address tries every 0.25 s to join the chat (the greeting must arrive
within 2 s) and to read /healthz. The server runs with default flags, in a temporary
directory, at a descriptor limit of --nofile (soft and hard, through prlimit). Loopback only,
bounded in time and in sockets.

    benches/scripts/loris.py [--runs 3] [--servers chat-tokio,...] [--sockets 3000]
                             [--seconds 20] [--nofile 2048] [--addresses 1] [--metrics-listen]
                             [--before PATH]

--before adds a row for another build of the server (for example one built from the commit
before the handshake limits), run the same way.
"""

import argparse
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import compare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
REQUEST = b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def attack(port, sockets, seconds, addresses, held):
    """Keeps up to `sockets` connections in the HTTP phase for `seconds`, one byte a second
    each, from 127.0.0.1 or spread over `addresses` addresses 127.0.1.1, 127.0.1.2, ...;
    appends how many were open, once a second, to `held`."""
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> bytes of REQUEST sent
    opened = [0]

    def open_one():
        s = socket.socket()
        s.setblocking(False)
        opened[0] += 1
        s.bind(("127.0.0.1" if addresses == 1 else f"127.0.1.{1 + opened[0] % addresses}", 0))
        try:
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            s.close()
            return
        conns[s] = 0
        sel.register(s, selectors.EVENT_READ)

    def drop(s):
        sel.unregister(s)
        s.close()
        del conns[s]

    end = time.time() + seconds
    next_tick = time.time()
    while time.time() < end:
        while len(conns) < sockets:
            open_one()
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                if s.recv(4096):
                    continue  # an answer (503, ...): the socket closes next
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                pass
            drop(s)
        if time.time() >= next_tick:
            # One more byte on every socket; those the server has closed fail and reopen.
            for s in list(conns):
                try:
                    s.send(REQUEST[conns[s]:conns[s] + 1])
                    conns[s] = min(conns[s] + 1, len(REQUEST) - 1)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    drop(s)
            # The server's view: sockets that are still connected (not closed by it).
            held.append(sum(1 for s in conns if alive(s)))
            next_tick += 1
    for s in list(conns):
        drop(s)


def alive(s):
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False


def probe_chat(port):
    """Seconds to the greeting, or None when it did not come within 2 s."""
    start = time.time()
    try:
        with socket.socket() as s:
            s.settimeout(2)
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(UPGRADE)
            data = b""
            while b"You are connected" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return time.time() - start
    except OSError:
        return None


def probe_health(port):
    """Whether /healthz answered 200 within 2 s."""
    try:
        with socket.socket() as s:
            s.settimeout(2)
            s.bind(("127.0.0.3", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def once(binary, args):
    port = compare.free_port()
    tmp = tempfile.mkdtemp(prefix="chat-loris-")
    argv = ["prlimit", f"--nofile={args.nofile}:{args.nofile}"] + compare.pin(0) + [
        binary, "--host", "127.0.0.1", "--port", str(port), "--db", os.path.join(tmp, "chat.db")]
    health_port = port
    if args.metrics_listen:
        health_port = compare.free_port()
        argv += ["--metrics-listen", f"127.0.0.1:{health_port}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        compare.wait_for(port, proc)
        held = []
        attacker = threading.Thread(target=attack, args=(port, args.sockets, args.seconds, args.addresses, held))
        attacker.start()
        time.sleep(3)  # the attacker fills what it can
        chats, health = [], []
        while attacker.is_alive():
            chats.append(probe_chat(port))
            health.append(probe_health(health_port))
            time.sleep(0.25)
        attacker.join()
        joined = [t for t in chats if t is not None]
        return {
            "held": statistics.median(held[3:]) if len(held) > 3 else 0,
            "joined": len(joined) / len(chats),
            "greeting_p50_ms": statistics.median(joined) * 1000 if joined else None,
            "greeting_max_ms": max(joined) * 1000 if joined else None,
            "health": sum(health) / len(health),
            "server_alive": proc.poll() is None,
        }
    finally:
        compare.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--servers", default="chat-tokio,chat-async-std,chat-smol")
    parser.add_argument("--before", action="append", default=[], help="another server binary")
    parser.add_argument("--sockets", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--nofile", type=int, default=2048)
    parser.add_argument("--addresses", type=int, default=1, help="attacking addresses (at most 250)")
    parser.add_argument("--metrics-listen", action="store_true",
                        help="serve /healthz on a listener of its own (--metrics-listen) and probe it there")
    args = parser.parse_args()
    rows = [(b, os.path.join(RELEASE, b)) for b in args.servers.split(",") if b]
    rows += [(f"{os.path.basename(b)} (before: {b})", b) for b in args.before]
    source = "127.0.0.1" if args.addresses == 1 else f"{args.addresses} addresses"
    print(f"{args.sockets} attacking sockets from {source} for {args.seconds:.0f} s, "
          f"descriptor limit {args.nofile}; medians of {args.runs}")
    print("| server | attacker's sockets held | probes that joined | greeting p50 / max ms | /healthz answered |")
    print("|---|---|---|---|---|")
    for name, binary in rows:
        runs = [once(binary, args) for _ in range(args.runs)]
        med = lambda k: statistics.median(r[k] for r in runs if r[k] is not None) if any(
            r[k] is not None for r in runs) else float("nan")
        if not all(r["server_alive"] for r in runs):
            name += " (the server exited)"
        print(f"| {name} | {med('held'):,.0f} | {med('joined'):.0%} | "
              f"{med('greeting_p50_ms'):.1f} / {med('greeting_max_ms'):.1f} | {med('health'):.0%} |",
              flush=True)


if __name__ == "__main__":
    main()
