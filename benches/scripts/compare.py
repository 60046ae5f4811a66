#!/usr/bin/env python3
"""Runs chat servers through the same chat-bench scenarios, one server at a time, and prints
one table of medians.

The server is pinned to CPU 0 (`--server-cpus` to change it) and chat-bench to CPU 1
(taskset), so they do not fight over a core. Everything talks to 127.0.0.1 only. It builds what it runs first (release), including the
peers in benches/peers (cargo, and npm for the Node one).

    benches/scripts/compare.py [--runs 3] [--servers a,b] [--scenarios idle,broadcast,...]

A cluster (`cluster-tokio+smol`) is a redis-server and two nodes, all on CPU 0 as a single
server is, with chat-bench's connections spread over both nodes; its CPU and memory
figures are those of the three processes together.
"""

import argparse
import atexit
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
PEERS = os.path.join(ROOT, "benches", "peers")
PEERS_RELEASE = os.path.join(PEERS, "target", "release")


_CERT = None


def certificate():
    """A self-signed certificate for 127.0.0.1 (openssl), made once per run and removed at
    its end: (cert, key)."""
    global _CERT
    if _CERT is None:
        d = tempfile.mkdtemp(prefix="chat-bench-tls-")
        atexit.register(shutil.rmtree, d, ignore_errors=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE",
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        _CERT = (cert, key)
    return _CERT


def ours(binary, store=False, tls=False, release=RELEASE):
    """Our server; with `store`, the default store in a fresh temporary directory, else
    `--db :memory:`; with `tls`, HTTPS/WSS only on a self-signed certificate; `release`:
    where its binary is (another checkout's, for `--baseline`)."""
    def argv(port):
        db = os.path.join(tempfile.mkdtemp(prefix="chat-bench-"), "chat.db") if store else ":memory:"
        extra = ["--tls-cert", certificate()[0], "--tls-key", certificate()[1]] if tls else []
        return [os.path.join(release, binary), "--host", "127.0.0.1", "--port", str(port),
                "--rate", "0", "--max-connections", "100000", "--ping-interval", "0",
                "--max-connections-per-ip", "0", "--connect-rate", "0", "--db", db] + extra
    return argv


SERVERS = {
    "chat-tokio": ours("chat-tokio"),
    "chat-async-std": ours("chat-async-std"),
    "chat-smol": ours("chat-smol"),
    # The same with the history on disk (the default store), for the store's cost.
    "chat-tokio+db": ours("chat-tokio", store=True),
    "chat-async-std+db": ours("chat-async-std", store=True),
    "chat-smol+db": ours("chat-smol", store=True),
    # The same over TLS (wss), for what TLS costs.
    "chat-tokio+tls": ours("chat-tokio", tls=True),
    "chat-async-std+tls": ours("chat-async-std", tls=True),
    "chat-smol+tls": ours("chat-smol", tls=True),
    "peer-axum": lambda port: [os.path.join(PEERS_RELEASE, "peer-axum"), str(port)],
    "peer-tungstenite": lambda port: [os.path.join(PEERS_RELEASE, "peer-tungstenite"), str(port)],
    "peer-node-ws": lambda port: ["node", os.path.join(PEERS, "node-ws", "server.js"), str(port)],
}

# Clusters: the nodes' binaries, started on one redis-server (Debian's package).
CLUSTERS = {
    "cluster-tokio+smol": ["chat-tokio", "chat-smol"],
}


def cluster_node(binary, port, redis_port):
    return ours(binary)(port) + ["--cluster", f"redis://127.0.0.1:{redis_port}",
                                 "--cluster-prefix", "bench"]


# Each scenario: chat-bench arguments, and the figures the table shows.
SCENARIOS = {
    "idle": (["idle", "--connections", "10000"], [("server_rss_per_connection_bytes", "B/conn")]),
    "broadcast": (["broadcast", "--connections", "1000", "--senders", "10", "--lines", "200",
                   "--window", "16", "--size", "64"],
                  [("deliveries_per_s", "deliv/s"), ("server.cpu_ns_per_delivery", "srv ns/deliv"),
                   ("tool.cpu_ns_per_delivery", "tool ns/deliv"), ("lost", "lost"), ("reordered", "reord"),
                   ("latency.p99_ms", "p99 ms")]),
    "latency": (["latency", "--connections", "1000", "--senders", "10", "--rate", "20",
                 "--seconds", "10", "--size", "64"],
                [("latency.p50_ms", "p50 ms"), ("latency.p99_ms", "p99 ms"), ("latency.max_ms", "max ms"),
                 ("lost", "lost")]),
    # The low rate of issue 13: 10 senders x 5 lines/s into 1,000 clients, 50,000 deliveries/s.
    "lowrate": (["latency", "--connections", "1000", "--senders", "10", "--rate", "5",
                 "--seconds", "10", "--size", "64"],
                [("latency.p50_ms", "p50 ms"), ("latency.p99_ms", "p99 ms"), ("latency.max_ms", "max ms"),
                 ("lost", "lost")]),
    # Few receivers, many lines: what a line costs the store shows most here.
    "lines": (["broadcast", "--connections", "10", "--senders", "10", "--lines", "20000",
               "--window", "16", "--size", "64"],
              [("deliveries_per_s", "deliv/s"), ("server.cpu_ns_per_delivery", "srv ns/deliv"),
               ("lost", "lost"), ("latency.p99_ms", "p99 ms")]),
    # Connections opening and closing at a steady rate, then 10,000 dropped at once.
    "churn": (["churn", "--rate", "2000", "--seconds", "10", "--lines", "3", "--mass", "10000"],
              [("handshakes_per_s", "handshakes/s"), ("failed", "failed"), ("greeting.p50_ms", "greet p50 ms"),
               ("greeting.p99_ms", "greet p99 ms"), ("rss.returned_fraction", "RSS returned")]),
    # Frames that concern their sender alone (blank frames and pongs), as fast as read:
    # what each costs the server, and whether it takes the shared chat's lock (ours only).
    "noise": (["noise", "--connections", "10", "--frames", "100000"],
              [("frames_per_s", "frames/s"), ("server.cpu_ns_per_delivery", "srv ns/frame"),
               ("hub.inputs_per_frame", "hub inputs/frame"), ("hub.lock_ns_per_frame", "lock ns/frame")]),
    "fanout": (["fanout", "--connections", "18000", "--seconds", "10", "--size", "64"],
               [("broadcast_complete.p99_ms", "all-recv p99 ms"), ("latency.p99_ms", "p99 ms"),
                ("lost", "lost")]),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start listening")


def pin(cpu):
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() >= 2 else []


# The CPUs a server (or a cluster's processes) runs on; `--server-cpus` changes it.
SERVER_CPUS = "0"


def get(result, path):
    for part in path.split("."):
        if not isinstance(result, dict):
            return None
        result = result.get(part)
    return result


def stop(proc):
    """SIGTERM, then SIGKILL if the server has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_connected(port, seconds=20):
    """A node takes connections once it has reached Redis: /healthz says ok."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
                if b" 200 " in s.recv(256):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the node never reached Redis")


def start(server):
    """Starts `server` (or a cluster's Redis and nodes): its processes, the addresses
    to spread connections over, and the store directory to remove afterwards."""
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if server in CLUSTERS:
        redis_port = free_port()
        redis = subprocess.Popen(pin(SERVER_CPUS) + ["redis-server", "--port", str(redis_port), "--bind",
                                           "127.0.0.1", "--save", "", "--appendonly", "no"], **quiet)
        procs, ports = [redis], []
        wait_for(redis_port, redis)
        for binary in CLUSTERS[server]:
            port = free_port()
            procs.append(subprocess.Popen(pin(SERVER_CPUS) + cluster_node(binary, port, redis_port), **quiet))
            ports.append(port)
        for port, proc in zip(ports, procs[1:]):
            wait_for(port, proc)
            wait_until_connected(port)
        return procs, ports, None
    port = free_port()
    argv = SERVERS[server](port)
    proc = subprocess.Popen(pin(SERVER_CPUS) + argv, **quiet)
    wait_for(port, proc)
    db = argv[argv.index("--db") + 1] if "--db" in argv else ":memory:"
    return [proc], [port], (os.path.dirname(db) if db != ":memory:" else None)


def run_once(server, scenario):
    procs, ports, store_dir = [], [], None
    try:
        procs, ports, store_dir = start(server)
        args, _ = SCENARIOS[scenario]
        bench = [os.path.join(RELEASE, "chat-bench"), "--addr", f"127.0.0.1:{ports[0]}"]
        for port in ports[1:]:
            bench += ["--also", f"127.0.0.1:{port}"]
        for proc in procs:
            bench += ["--pid", str(proc.pid)]
        if server.endswith("+tls"):
            bench += ["--tls-ca", certificate()[0]]
        bench += ["--sources", "8", "--max-seconds", "240"] + args
        out = subprocess.run(pin(1) + bench, capture_output=True, text=True, timeout=300)
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no result")
        return json.loads(lines[-1])
    finally:
        for proc in reversed(procs):
            stop(proc)
        if store_dir:
            shutil.rmtree(store_dir, ignore_errors=True)


def build(servers):
    """Builds our servers, chat-bench and the peers that are asked for."""
    run = lambda cmd, cwd=ROOT: subprocess.run(cmd, cwd=cwd, check=True)
    # One `--bin` per binary: a single `--bin chat-bench` would build that binary alone, and
    # leave the servers unbuilt on a fresh clone.
    run(["cargo", "build", "--release", "-p", "chat-tokio", "-p", "chat-async-std", "-p", "chat-smol",
         "-p", "chat-benches", "--bin", "chat-tokio", "--bin", "chat-async-std", "--bin", "chat-smol",
         "--bin", "chat-bench"])
    if any(s in servers for s in ("peer-axum", "peer-tungstenite")):
        run(["cargo", "build", "--release", "--manifest-path", os.path.join(PEERS, "Cargo.toml")])
    if "peer-node-ws" in servers:
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=os.path.join(PEERS, "node-ws"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--servers", default=",".join(list(SERVERS) + list(CLUSTERS)))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", help="also write every run's raw result to this file")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="another checkout, built with `cargo build --release`: its servers run "
                             "as base-chat-tokio, base-chat-async-std, base-chat-smol (before/after)")
    parser.add_argument("--server-cpus", default="0",
                        help="the CPUs the server runs on (taskset list; chat-bench stays on CPU 1): "
                             "0,1 gives it both cores of a 2-core machine, shared with the tool")
    args = parser.parse_args()
    global SERVER_CPUS
    SERVER_CPUS = args.server_cpus
    if args.baseline:
        for binary in ("chat-tokio", "chat-async-std", "chat-smol"):
            SERVERS["base-" + binary] = ours(binary, release=os.path.join(args.baseline, "target", "release"))
    servers = [s for s in args.servers.split(",") if s]
    scenarios = [s for s in args.scenarios.split(",") if s]
    if not args.no_build:
        build(servers)
    raw = []
    for scenario in scenarios:
        _, columns = SCENARIOS[scenario]
        # Runs take turns (a, b, c, a, b, c, ...): a slow spell of this noisy machine then
        # falls on every server rather than on one.
        results = {server: [] for server in servers}
        errors = {server: [] for server in servers}
        for _ in range(args.runs):
            for server in servers:
                try:
                    results[server].append(run_once(server, scenario))
                except Exception as e:  # a failed run is reported, not hidden
                    errors[server].append(str(e))
                # Let TIME_WAIT sockets and the kernel settle between runs.
                time.sleep(2)
        print(f"\n## {scenario}: chat-bench {' '.join(SCENARIOS[scenario][0])}  (median of {args.runs})")
        print("| server | " + " | ".join(c[1] for c in columns) + " | runs |")
        print("|---" * (len(columns) + 2) + "|")
        for server in servers:
            results_, errors_ = results[server], errors[server]
            raw.append({"server": server, "scenario": scenario, "results": results_, "errors": errors_})
            cells = []
            for path, _ in columns:
                values = [get(r, path) for r in results_ if get(r, path) is not None]
                cells.append(f"{statistics.median(values):,.1f}" if values else "n/a")
            note = f"{len(results_)}/{args.runs}" + (f" ({errors_[-1][:60]})" if errors_ else "")
            print(f"| {server} | " + " | ".join(cells) + f" | {note} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
