#!/usr/bin/env python3
"""The store's own figures, each a median of --runs: start-up time on a store holding
1,000,000 lines, and the reconnect storm (N clients connected, the server restarted, all
resume with `since` at once).

Everything talks to 127.0.0.1 only; every store is in a temporary directory, removed at the
end. Uses the release binaries (it builds them first unless --no-build).

    benches/scripts/store.py [--runs 3] [--lines 1000000] [--storm 10000] [--server chat-tokio]
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
TICKS = os.sysconf("SC_CLK_TCK")


def start(server, db, port=0):
    """Starts a server; returns (process, address, seconds until it said it listens)."""
    argv = [os.path.join(RELEASE, server), "--host", "127.0.0.1", "--port", str(port), "--rate", "0",
            "--max-connections", "100000", "--ping-interval", "0", "--db", db,
            # Every connection comes from 127.0.0.1.
            "--max-connections-per-ip", "0", "--connect-rate", "0"]
    began = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RUST_LOG": "info"})
    for line in proc.stderr:
        if "listening on " in line:
            took = time.monotonic() - began
            # Keep draining the log so the server never blocks on it.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, line.split("listening on ")[1].strip(), took
    raise RuntimeError(f"{server} exited with {proc.wait()} before listening")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    if code != 0:
        raise RuntimeError(f"server exited with {code} after SIGTERM")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def bench(addr, args, stderr=None):
    return subprocess.Popen([os.path.join(RELEASE, "chat-bench"), "--addr", addr, "--max-seconds", "600"]
                            + args, stdout=subprocess.PIPE, stderr=stderr, text=True)


def result(proc):
    out, _ = proc.communicate(timeout=900)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("chat-bench failed")
    return json.loads(lines[-1])


def startup(server, lines, runs):
    """Fills a store with `lines` lines through the server, then times restarts on it."""
    tmp = tempfile.mkdtemp(prefix="chat-store-")
    db = os.path.join(tmp, "chat.db")
    try:
        proc, addr, _ = start(server, db)
        filled = time.monotonic()
        result(bench(addr, ["broadcast", "--connections", "1", "--senders", "1", "--lines", str(lines),
                            "--window", "64", "--size", "64"]))
        fill_s = time.monotonic() - filled
        stop(proc)
        size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
        times = []
        for _ in range(runs):
            proc, _, took = start(server, db)
            times.append(took)
            stop(proc)
        return {"lines": lines, "fill_s": round(fill_s, 1), "file_mb": round(size / 1e6, 1),
                "listening_s": [round(t, 3) for t in times],
                "listening_median_s": round(statistics.median(times), 3)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def storm(server, n, missed, kill):
    """One reconnect storm of `n` clients on a fresh store, the server stopped with SIGTERM
    or (`kill`) SIGKILL. After SIGTERM the next ids follow the last line, which memory holds;
    after SIGKILL they skip ahead, so every resume is read from the store."""
    tmp = tempfile.mkdtemp(prefix="chat-store-")
    db = os.path.join(tmp, "chat.db")
    try:
        proc, addr, _ = start(server, db)
        port = addr.rsplit(":", 1)[1]
        tool = bench(addr, ["storm", "--connections", str(n), "--missed", str(missed)],
                     stderr=subprocess.PIPE)
        for line in tool.stderr:
            if "storm ready" in line:
                break
        threading.Thread(target=lambda: [None for _ in tool.stderr], daemon=True).start()
        if kill:
            time.sleep(0.2)  # the seed line's batch is committed
            proc.kill()
            proc.wait()
        else:
            stop(proc)
        proc, _, _ = start(server, db, port)
        cpu_before = cpu_s(proc.pid)
        out = result(tool)
        out["server_cpu_s"] = round(cpu_s(proc.pid) - cpu_before, 3)
        out["server_rss_after_mb"] = round(rss_mb(proc.pid), 1)
        stop(proc)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--storm", type=int, default=10_000, help="clients in the reconnect storm")
    parser.add_argument("--missed", type=int, default=20, help="lines each storm client missed")
    parser.add_argument("--server", default="chat-tokio")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", args.server, "-p", "chat-benches",
                        "--bin", args.server, "--bin", "chat-bench"], cwd=ROOT, check=True)
    up = startup(args.server, args.lines, args.runs)
    print(json.dumps({"startup": up}))
    print(f"\n{args.server}: start-up on {up['lines']:,} lines ({up['file_mb']} MB): "
          f"listening after {up['listening_median_s']} s (median of {args.runs}: {up['listening_s']})")
    for kill in (False, True):
        storms = [storm(args.server, args.storm, args.missed, kill) for _ in range(args.runs)]
        for s in storms:
            print(json.dumps({"storm": s, "stop": "SIGKILL" if kill else "SIGTERM"}))
        med = lambda key: statistics.median(get(s, key) for s in storms)
        print(f"storm after {'SIGKILL' if kill else 'SIGTERM'}, {args.storm:,} clients, {args.missed} "
              f"missed lines each, median of {args.runs}: all resumed in {med('all_resumed_s'):.2f} s, "
              f"p50 {med('resumed.p50_ms'):.0f} ms, p99 {med('resumed.p99_ms'):.0f} ms, "
              f"server CPU {med('server_cpu_s'):.2f} s, RSS after {med('server_rss_after_mb'):.0f} MB, "
              f"failed {max(s['failed'] for s in storms)}")


def get(result, path):
    for part in path.split("."):
        result = result[part]
    return result


if __name__ == "__main__":
    main()
