#!/usr/bin/env python3
"""The reconnect flood against a server with default flags, before and after the per-address
limits (before = `--connect-rate 0 --max-connections-per-ip 0`, every connection with a full
bucket as in v1), on each runtime: one attacker (chat-bench flood, 8 loops from 127.0.0.1)
for 10 s, three readers in their own processes (chat-bench watch, from 127.0.0.2-4) that say
a line every 0.5 s and check that each comes back. Loopback only, bounded in time.

    benches/scripts/flood.py [--runs 3] [--servers chat-tokio,chat-smol,chat-async-std]
                             [--peers peer-axum,peer-tungstenite,peer-node-ws]

The peers (benches/peers, built by compare.py) have no limits: one row each, the same flood.
"""

import argparse
import json
import os
import statistics
import subprocess
import time

import compare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
BEFORE = ["--connect-rate", "0", "--max-connections-per-ip", "0"]


def pin(cpu):
    return ["taskset", "-c", str(cpu)] if os.cpu_count() >= 2 else []


def tool(addr, args):
    return subprocess.Popen(pin(1) + [os.path.join(RELEASE, "chat-bench"), "--addr", addr,
                                      "--max-seconds", "60"] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def result(proc):
    out, _ = proc.communicate(timeout=120)
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def start(server, flags):
    """Starts one of ours (on a port it picks, read from its log) or a peer; returns the
    process and its address."""
    if server.startswith("peer-"):
        port = compare.free_port()
        proc = subprocess.Popen(pin(0) + compare.SERVERS[server](port), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        compare.wait_for(port, proc)
        return proc, f"127.0.0.1:{port}"
    argv = pin(0) + [os.path.join(RELEASE, server), "--host", "127.0.0.1", "--port", "0",
                     "--db", ":memory:"] + flags
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RUST_LOG": "info"})
    for line in proc.stderr:
        if "listening on " in line:
            return proc, line.split("listening on ")[1].strip()
    raise RuntimeError(f"{server} did not start")


def once(server, flags):
    proc, addr = start(server, flags)
    try:
        watchers = [tool(addr, ["watch", "--from", f"127.0.0.{i}", "--seconds", "12"]) for i in (2, 3, 4)]
        time.sleep(1)
        attack = result(tool(addr, ["flood", "--from", "127.0.0.1", "--loops", "8", "--seconds", "10"]))
        seen = [result(w) for w in watchers]
    finally:
        compare.stop(proc)
    return {
        "connects_per_s": attack["connections_per_s"],
        "refused": attack["refused"],
        "flood_lines_per_s": statistics.median(w["flood_lines_per_s"] for w in seen),
        "join_notices": statistics.median(w["join_notices"] for w in seen),
        "readers_lost": sum(w["lost"] for w in seen),
        "readers_dropped": sum(w["dropped_after_s"] is not None for w in seen),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--servers", default="chat-tokio,chat-async-std,chat-smol")
    parser.add_argument("--peers", default="", help="peers to flood too, comma-separated")
    args = parser.parse_args()
    rows = [(s, name, flags) for s in args.servers.split(",") if s
            for name, flags in (("before (off)", BEFORE), ("after (defaults)", []))]
    rows += [(p, "none (a peer)", []) for p in args.peers.split(",") if p]
    print("| server | limits | connects/s | refused | flood lines/s reaching the room | join notices | readers' lines lost | readers dropped |")
    print("|---|---|---|---|---|---|---|---|")
    for server, name, flags in rows:
        runs = [once(server, flags) for _ in range(args.runs)]
        med = lambda k: statistics.median(r[k] for r in runs)
        print(f"| {server} | {name} | {med('connects_per_s'):,.0f} | {med('refused'):,.0f} | "
              f"{med('flood_lines_per_s'):,.1f} | {med('join_notices'):,.0f} | "
              f"{max(r['readers_lost'] for r in runs)} | {max(r['readers_dropped'] for r in runs)} |",
              flush=True)


if __name__ == "__main__":
    main()
