#!/usr/bin/env python3
"""Nexmark on Eddy next to the COST loop, per core.

For each query: the hand-written single-threaded loop (eddy-nexmark-cost), the engine in one
process (`eddy local`), and the engine on a local cluster of real processes (a JobManager and
two TaskManagers started with deploy/local/cluster.sh on free ports, stopped at the end). The
stateful queries run on the cluster with the heap (hashmap) and the RocksDB state backend.
Prints one table: wall time, events/s, CPU time, events per CPU second ("per core") and that
figure relative to the COST loop's. Then the latency of q0 and q5 on the cluster at half the
throughput the cluster reached: p50 and p99 of how late rows reach the sink.

With --checkpoint-interval, each stateful cluster run is repeated with checkpoints that often
("cluster+chk"), to show what checkpointing costs. With --recovery, a TaskManager running a
rate-limited q5 with checkpoints every second is killed with SIGKILL and the script measures
how long until the job restarted from its checkpoint and until its first checkpoint after the
restart completed (the exactly-once sink's output is visible from then on).

  bench/nexmark/run.py [--events N] [-p P] [--queries q0,q5] [--modes cost,local,cluster]
                       [--backends hashmap,rocksdb] [--no-latency] [--markdown FILE]
                       [--checkpoint-interval 1s] [--recovery]
                       [--bin-dir build/release/bin] [--examples-dir build/release/examples]

Figures only mean something with the optimized build (`make release`; `make bench-nexmark`).
Standard library only.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER_SH = os.path.join(ROOT, "deploy", "local", "cluster.sh")

QUERIES = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11", "q12"]
STATEFUL = {"q3", "q4", "q5", "q7", "q8", "q11", "q12"}
LATENCY_QUERIES = ["q0", "q5"]
# q12's windows are processing-time ones: its rows depend on how fast the run is.
NONDETERMINISTIC_ROWS = {"q12"}
MODES = ["cost", "local", "cluster"]
BACKENDS = ["hashmap", "rocksdb"]
CLUSTER_TASKMANAGERS = 2
RECOVERY_RATE = 50000  # events/s of the recovery run

START = time.monotonic()


class BenchError(Exception):
    pass


def progress(msg):
    elapsed = int(time.monotonic() - START)
    sys.stderr.write("[%d:%02d] %s\n" % (elapsed // 60, elapsed % 60, msg))
    sys.stderr.flush()


def tail(path, lines=30):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)\n" % (path, e)


def exit_code(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run_measured(cmd, log_path, timeout, env=None):
    """Runs cmd with its output in log_path; returns (exit code, wall s, CPU s of the child).

    The CPU time is the child's user + system time (os.wait4), threads included. A run longer
    than `timeout` is killed (exit code None); one that cannot start has exit code 127."""
    with open(log_path, "w") as log:
        log.write("$ %s\n" % shlex.join(cmd))
        log.flush()
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
        except OSError as e:  # e.g. the binary is being relinked right now
            log.write("cannot run %s: %s\n" % (cmd[0], e))
            return 127, 0.0, 0.0
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            proc.kill()
        except OSError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    reaped = False
    try:
        _, status, usage = os.wait4(proc.pid, 0)
        reaped = True
        wall = time.monotonic() - t0
        proc.returncode = exit_code(status)
    finally:
        timer.cancel()
        if not reaped:  # interrupted: do not leave the child behind
            proc.kill()
            proc.wait()
    code = None if timed_out.is_set() else proc.returncode
    return code, wall, usage.ru_utime + usage.ru_stime


def parse_records_out(log_path):
    """The `out N` of the CLI's final FINISHED line: rows that reached the sinks."""
    out = None
    with open(log_path, "r", errors="replace") as f:
        for line in f:
            m = re.search(r"^FINISHED\s.*records in ([\d,]+), out ([\d,]+)", line.strip())
            if m:
                out = int(m.group(2).replace(",", ""))
    return out


def parse_job_id(log_path):
    with open(log_path, "r", errors="replace") as f:
        for line in f:
            m = re.match(r"Job ([0-9a-f]+) submitted", line)
            if m:
                return m.group(1)
    return None


# ---- The local cluster ------------------------------------------------------------------------

def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def cpu_ticks(pid):
    """utime + stime of a process (all its threads, live and exited), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] != "Z"
    except OSError:
        return False


class Cluster:
    """A JobManager + TaskManagers of deploy/local/cluster.sh on free ports in its own run dir."""

    def __init__(self, bin_dir, run_dir, parallelism):
        self.bin_dir = bin_dir
        self.run_dir = run_dir
        self.parallelism = parallelism
        self.rest_port = None
        self.env = None
        self.started = False
        self.starts = 0

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.rest_port

    def pids(self):
        out = {}
        for name in sorted(os.listdir(self.run_dir)):
            if name.endswith(".pid"):
                with open(os.path.join(self.run_dir, name)) as f:
                    out[name[:-4]] = int(f.read().strip())
        return out

    def start(self):
        self.starts += 1
        os.makedirs(self.run_dir, exist_ok=True)
        self.rest_port, rpc_port = free_ports(2)
        # One slot per TaskManager at p=2: the subtasks spread over both processes.
        slots = max(1, -(-self.parallelism // CLUSTER_TASKMANAGERS))
        self.env = dict(os.environ, EDDY_BIN_DIR=self.bin_dir, EDDY_RUN_DIR=self.run_dir,
                        EDDY_REST_PORT=str(self.rest_port), EDDY_RPC_PORT=str(rpc_port),
                        EDDY_SET="taskmanager.numberOfTaskSlots=%d" % slots)
        progress("starting a local cluster (JobManager + %d TaskManagers, REST %s, run dir %s)"
                 % (CLUSTER_TASKMANAGERS, self.url, self.run_dir))
        log = os.path.join(self.run_dir, "cluster-start-%d.log" % self.starts)
        with open(log, "w") as f:
            # Its own session: Ctrl-C reaches this script, which then stops the cluster in order.
            rc = subprocess.call([CLUSTER_SH, "start", str(CLUSTER_TASKMANAGERS)], env=self.env,
                                 stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True, timeout=90)
        self.started = True
        if rc != 0:
            raise BenchError("deploy/local/cluster.sh start failed:\n" + tail(log))

    def ensure_running(self):
        if self.started and all(alive(p) for p in self.pids().values()):
            return
        if self.started:
            progress("a cluster process is gone; restarting the cluster")
            self.stop()
        self.start()

    def stop(self):
        if not self.started:
            return
        self.started = False
        pids = self.pids()
        try:
            subprocess.call([CLUSTER_SH, "stop"], env=self.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        for pid in pids.values():  # cluster.sh stop kills after 10 s; make sure regardless
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def log_tails(self, lines=15):
        out = []
        for name in sorted(os.listdir(self.run_dir)):
            if name.endswith(".log") and not name.startswith("cluster-start"):
                out.append("--- %s (last %d lines)\n%s" % (name, lines,
                                                            tail(os.path.join(self.run_dir, name), lines)))
        return "".join(out)

    def job(self, job_id):
        try:
            with urllib.request.urlopen(self.url + "/jobs/" + job_id, timeout=5) as r:
                return json.loads(r.read().decode())
        except (OSError, ValueError):
            return None

    def cancel(self, eddy, job_id):
        subprocess.call([eddy, "-m", self.url, "cancel", job_id], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=30)


# ---- The runs ---------------------------------------------------------------------------------

class Result:
    def __init__(self, query, mode, backend, p, events):
        self.query, self.mode, self.backend, self.p, self.events = query, mode, backend, p, events
        self.rows = None
        self.wall = None
        self.job_seconds = None  # cluster: the JobManager's start-to-end time of the job
        self.cpu = None
        self.error = None

    @property
    def events_per_second(self):
        return self.events / self.wall if self.wall else None

    @property
    def events_per_cpu_second(self):
        return self.events / self.cpu if self.cpu else None

    def label(self):
        return "%s %s%s p=%d" % (self.query, self.mode,
                                 "" if self.backend == "-" else " " + self.backend, self.p)


class Runner:
    def __init__(self, args, work_dir):
        self.args = args
        self.work_dir = work_dir
        self.log_dir = os.path.join(work_dir, "logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.cost = os.path.join(args.bin_dir, "eddy-nexmark-cost")
        self.eddy = os.path.join(args.bin_dir, "eddy")
        self.job = os.path.join(args.examples_dir, "nexmark.so")
        self.cluster = Cluster(args.bin_dir, os.path.join(work_dir, "cluster"), args.parallelism)
        self.results = []
        self.latencies = []
        self.notes = []
        self.recovery = None

    def log_path(self, *parts):
        return os.path.join(self.log_dir, "-".join(parts) + ".log")

    def fail(self, result, message, log=None, cluster=False):
        result.error = message
        text = "%s: %s" % (result.label(), message)
        if log:
            text += "\n--- %s\n%s" % (log, tail(log))
        if cluster:
            text += self.cluster.log_tails()
        progress("FAILED " + text)

    def run_cost(self, query):
        r = Result(query, "cost", "-", 1, self.args.events)
        log = self.log_path(query, "cost")
        code, wall, cpu = run_measured([self.cost, "--query", query, "--events", str(r.events)], log,
                                       self.args.run_timeout)
        if code != 0:
            self.fail(r, "timed out" if code is None else "exit code %d" % code, log)
            return r
        with open(log) as f:
            line = [l for l in f if l.startswith("query=")]
        fields = dict(kv.split("=", 1) for kv in line[-1].split()) if line else {}
        try:
            r.rows = int(fields["rows"])
            r.wall = float(fields["seconds"])  # the loop's own figures: without process start
            r.cpu = float(fields["cpu_seconds"])
        except (KeyError, ValueError):
            self.fail(r, "cannot parse its output line", log)
        return r

    def engine_args(self, query, events):
        return ["--", "--query", query, "--events", str(events)]

    def run_local(self, query, backend):
        r = Result(query, "local", backend, self.args.parallelism, self.args.events)
        log = self.log_path(query, "local", backend)
        cmd = [self.eddy, "local", self.job, "-p", str(r.p), "-D", "state.backend.type=" + backend]
        code, wall, cpu = run_measured(cmd + self.engine_args(query, r.events), log,
                                       self.args.run_timeout)
        if code != 0:
            self.fail(r, "timed out" if code is None else "exit code %d" % code, log)
            return r
        r.wall, r.cpu, r.rows = wall, cpu, parse_records_out(log)
        return r

    def submit(self, r, log, job_args):
        """`eddy run --wait` on the cluster; fills r.wall, r.cpu (JobManager + TaskManagers +
        the `eddy` client that uploads the job),
        r.job_seconds and r.rows. Returns False (r.error set) if the job did not finish."""
        self.cluster.ensure_running()
        pids = self.cluster.pids()
        before = {name: cpu_ticks(pid) for name, pid in pids.items()}
        cmd = [self.eddy, "-m", self.cluster.url, "run", "--wait", self.job, "-p", str(r.p),
               "-D", "state.backend.type=" + r.backend] + job_args
        code, wall, client_cpu = run_measured(cmd, log, self.args.run_timeout)
        gone = [name for name, pid in pids.items() if not alive(pid)]
        if gone:
            self.fail(r, "cluster process(es) %s exited during the job" % ", ".join(gone), log,
                      cluster=True)
            return False
        after = {name: cpu_ticks(pid) for name, pid in pids.items()}
        job_id = parse_job_id(log)
        if code != 0:
            self.fail(r, "timed out" if code is None else "exit code %d" % code, log, cluster=True)
            if job_id:
                self.cluster.cancel(self.eddy, job_id)
            return False
        r.wall = wall
        r.cpu = (sum(after[n] - before[n] for n in pids) / float(os.sysconf("SC_CLK_TCK")) +
                 (client_cpu or 0.0))
        r.rows = parse_records_out(log)
        job = self.cluster.job(job_id) if job_id else None
        if job and job.get("duration", -1) >= 0:
            r.job_seconds = job["duration"] / 1000.0
        return True

    def checkpoint_args(self, interval):
        return ["-D", "execution.checkpointing.interval=" + interval,
                "-D", "state.checkpoints.dir=file://" + os.path.join(self.work_dir, "checkpoints")]

    def run_cluster(self, query, backend, checkpoints=False):
        mode = "cluster+chk" if checkpoints else "cluster"
        r = Result(query, mode, backend, self.args.parallelism, self.args.events)
        extra = self.checkpoint_args(self.args.checkpoint_interval) if checkpoints else []
        self.submit(r, self.log_path(query, mode, backend), extra + self.engine_args(query, r.events))
        return r

    def rest(self, path):
        try:
            with urllib.request.urlopen(self.cluster.url + path, timeout=5) as resp:
                return json.loads(resp.read().decode())
        except (OSError, ValueError):
            return None

    def run_recovery(self):
        """Kills the TaskManager running a rate-limited q5 (p=1, hashmap, checkpoints every
        second) and times the restart and the first checkpoint after it."""
        rec = {"query": "q5", "rate": RECOVERY_RATE, "restarted": None, "running": None,
               "output": None, "error": None}
        self.cluster.ensure_running()
        pids = self.cluster.pids()
        log = self.log_path("q5", "recovery")
        events = RECOVERY_RATE * 120
        start_at = int(time.time() * 1000 + 3000)
        cmd = [self.eddy, "-m", self.cluster.url, "run", self.job, "-p", "1",
               "-D", "state.backend.type=hashmap"] + self.checkpoint_args("1s") + \
            self.engine_args("q5", events) + ["--rate", str(RECOVERY_RATE), "--start-at", str(start_at)]
        progress("recovery: q5 at %s events/s, p=1, checkpoints every 1 s; a TaskManager will be "
                 "killed ..." % fmt_int(RECOVERY_RATE))
        with open(log, "w") as f:
            code = subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                   timeout=60)
        job_id = parse_job_id(log)
        if code != 0 or not job_id:
            rec["error"] = "submission failed: " + tail(log, 5)
            return rec
        try:
            deadline = time.monotonic() + 60
            while True:  # a few checkpoints first
                c = self.rest("/jobs/%s/checkpoints" % job_id)
                if c and c["counts"]["completed"] >= 3:
                    break
                if time.monotonic() > deadline:
                    rec["error"] = "no 3 checkpoints within 60 s"
                    return rec
                time.sleep(0.1)
            # The TaskManager that runs the job is the one using CPU.
            tms = {n: p for n, p in pids.items() if n.startswith("taskmanager")}
            before = {n: cpu_ticks(p) for n, p in tms.items()}
            time.sleep(1.0)
            busy = max(tms, key=lambda n: cpu_ticks(tms[n]) - before[n])
            restarts = (self.cluster.job(job_id) or {}).get("numRestarts", 0)
            killed_ms = time.time() * 1000
            os.kill(tms[busy], signal.SIGKILL)
            t0 = time.monotonic()
            deadline = t0 + 60
            while rec["output"] is None and time.monotonic() < deadline:
                job = self.cluster.job(job_id) or {}
                c = self.rest("/jobs/%s/checkpoints" % job_id) or {}
                restored = ((c.get("latest") or {}).get("restored") or {})
                if rec["restarted"] is None and job.get("numRestarts", 0) > restarts:
                    rec["restarted"] = time.monotonic() - t0
                if rec["running"] is None and rec["restarted"] is not None and \
                        job.get("state") == "RUNNING" and all(
                            v.get("status") == "RUNNING" for v in job.get("vertices", [])):
                    rec["running"] = time.monotonic() - t0
                done = (c.get("latest") or {}).get("completed") or {}
                if restored.get("restore_timestamp", 0) > killed_ms and \
                        done.get("trigger_timestamp", 0) > restored["restore_timestamp"]:
                    rec["output"] = (done["trigger_timestamp"] + done["end_to_end_duration"]
                                     - killed_ms) / 1000.0
                time.sleep(0.02)
            if rec["output"] is None:
                rec["error"] = "no checkpoint completed within 60 s of the kill"
            else:
                progress("recovery: restarted after %.2f s, running after %.2f s, first checkpoint "
                         "after the restart completed %.2f s after the kill"
                         % (rec["restarted"] or -1, rec["running"] or -1, rec["output"]))
        finally:
            self.cluster.cancel(self.eddy, job_id)
            self.cluster.stop()  # one TaskManager is gone: a later run starts a fresh cluster
        return rec

    def run_latency(self, query, base):
        """q0 or q5 at half the events/s (wall) of its cluster run `base`, for about 15 s."""
        rate = max(1, int(base.events_per_second / 2))
        events = max(100000, rate * 15)
        r = Result(query, "cluster", "hashmap", self.args.parallelism, events)
        out_dir = os.path.join(self.work_dir, "latency-" + query)
        shutil.rmtree(out_dir, ignore_errors=True)
        # Event 0 is due 3 s after the submission, so that the job is deployed by then; longer
        # if the throughput run spent longer outside the job (loading the library, uploading).
        overhead = base.wall - base.job_seconds if base.job_seconds is not None else 0.0
        lead = max(3.0, round(overhead + 2.0, 1))
        start_at = int(time.time() * 1000 + lead * 1000)
        job_args = self.engine_args(query, events) + [
            "--rate", str(rate), "--start-at", str(start_at), "--latency-output", out_dir]
        progress("%s latency on the cluster (hashmap, p=%d): %s events at %s events/s, event 0 due "
                 "in %.1f s ..." % (query, r.p, fmt_int(events), fmt_int(rate), lead))
        lat = {"query": query, "backend": "hashmap", "p": r.p, "rate": rate, "events": events,
               "lead": lead,
               "rows": None, "p50": None, "p99": None, "max": None, "error": None}
        if not self.submit(r, self.log_path(query, "latency"), job_args):
            lat["error"] = r.error
            return lat
        hist = {}
        files = [f for f in os.listdir(out_dir) if re.match(r"latency-\d+\.txt$", f)] \
            if os.path.isdir(out_dir) else []
        for name in files:
            with open(os.path.join(out_dir, name)) as f:
                for line in f:
                    if line.strip():
                        bound, count = line.split()
                        hist[int(bound)] = hist.get(int(bound), 0) + int(count)
        total = sum(hist.values())
        if not files or total == 0:
            lat["error"] = "no latency histogram in %s" % out_dir
            progress("FAILED %s latency: %s" % (query, lat["error"]))
            return lat
        lat["rows"] = total
        lat["p50"] = percentile(hist, total, 0.50) / 1000.0
        lat["p99"] = percentile(hist, total, 0.99) / 1000.0
        lat["max"] = max(hist) / 1000.0
        progress("%s latency: p50 %.1f ms, p99 %.1f ms (%s rows, %.1f s)"
                 % (query, lat["p50"], lat["p99"], fmt_int(total), r.wall))
        return lat

    def plan(self):
        """(query, mode, backend) in run order."""
        out = []
        for q in self.args.queries:
            backends = [b for b in self.args.backends if q in STATEFUL or b == "hashmap"]
            if not backends:  # a stateless query keeps no state: one run is enough
                backends = self.args.backends[:1]
            if "cost" in self.args.modes:
                out.append((q, "cost", "-"))
            if "local" in self.args.modes:  # bounds the time: one backend
                out.append((q, "local", backends[0]))
            if "cluster" in self.args.modes:
                out.extend((q, "cluster", b) for b in backends)
                if self.args.checkpoint_interval and q in STATEFUL:
                    out.extend((q, "cluster+chk", b) for b in backends)
        return out

    def run(self):
        plan = self.plan()
        for i, (q, mode, backend) in enumerate(plan):
            what = "%s %s%s" % (q, mode, "" if backend == "-" else " " + backend)
            progress("[%d/%d] %s, %s events ..." % (i + 1, len(plan), what, fmt_int(self.args.events)))
            if mode == "cost":
                r = self.run_cost(q)
            elif mode == "local":
                r = self.run_local(q, backend)
            else:
                r = self.run_cluster(q, backend, checkpoints=(mode == "cluster+chk"))
            self.results.append(r)
            if not r.error:
                progress("[%d/%d] %s: %.2f s wall, %.2f s CPU, %s events/s per core"
                         % (i + 1, len(plan), what, r.wall, r.cpu, fmt_int(r.events_per_cpu_second)))
                self.check_rows(r)
        if self.args.latency:
            for q in [q for q in LATENCY_QUERIES if q in self.args.queries]:
                base = [r for r in self.results
                        if r.query == q and r.mode == "cluster" and r.backend == "hashmap" and not r.error]
                if not base:
                    self.notes.append("%s latency skipped: it needs a successful cluster hashmap "
                                      "run of %s (--modes cluster, --backends hashmap)" % (q, q))
                    continue
                self.latencies.append(self.run_latency(q, base[0]))
        if self.args.recovery:
            self.recovery = self.run_recovery()
            if self.recovery["error"]:
                progress("FAILED recovery: " + self.recovery["error"])

    def check_rows(self, r):
        cost = self.cost_of(r.query)
        if r.mode == "cost" or cost is None or r.rows is None or cost.rows is None:
            return
        if r.rows != cost.rows and r.query not in NONDETERMINISTIC_ROWS:
            note = "%s: %s rows, the COST loop %s" % (r.label(), fmt_int(r.rows), fmt_int(cost.rows))
            self.notes.append("rows differ: " + note)
            progress("WARNING rows differ: " + note)

    def cost_of(self, query):
        for r in self.results:
            if r.query == query and r.mode == "cost" and not r.error:
                return r
        return None


def checkpoint_cost_lines(runner):
    """Per stateful query and backend: events/s per core with checkpoints vs without."""
    out = []
    for r in runner.results:
        if r.mode != "cluster+chk" or r.error:
            continue
        base = [b for b in runner.results if b.mode == "cluster" and b.query == r.query
                and b.backend == r.backend and not b.error]
        if not base or not base[0].events_per_cpu_second or not r.events_per_cpu_second:
            continue
        loss = 1 - r.events_per_cpu_second / base[0].events_per_cpu_second
        out.append("checkpoints every %s: %s %s events/s per core %s vs %s without (%+.1f%%)"
                   % (runner.args.checkpoint_interval, r.query, r.backend,
                      fmt_int(r.events_per_cpu_second), fmt_int(base[0].events_per_cpu_second),
                      -100 * loss))
    return out


def percentile(hist, total, q):
    """The upper bound of the bucket holding the q-quantile."""
    need = q * total
    seen = 0
    for bound in sorted(hist):
        seen += hist[bound]
        if seen >= need:
            return bound
    return max(hist)


# ---- Output -----------------------------------------------------------------------------------

def fmt_int(x):
    return "-" if x is None else "{:,}".format(int(round(x)))


def fmt_f(x, digits=2):
    return "-" if x is None else "%.*f" % (digits, x)


def results_table(runner):
    header = ["query", "mode", "backend", "p", "events", "rows", "wall s", "job s", "events/s",
              "CPU s", "events/s per core", "engine/COST per core"]
    rows = []
    for r in runner.results:
        row = [r.query, r.mode, r.backend, str(r.p), fmt_int(r.events)]
        if r.error:
            rows.append(row + ["FAILED: " + r.error.splitlines()[0]] + [""] * 5)
            continue
        cost = runner.cost_of(r.query)
        ratio = None
        if r.mode != "cost" and cost is not None and r.events_per_cpu_second and cost.events_per_cpu_second:
            ratio = r.events_per_cpu_second / cost.events_per_cpu_second
        rows.append(row + [fmt_int(r.rows), fmt_f(r.wall), fmt_f(r.job_seconds),
                           fmt_int(r.events_per_second), fmt_f(r.cpu),
                           fmt_int(r.events_per_cpu_second), fmt_f(ratio)])
    return header, rows


def latency_table(runner):
    header = ["query", "mode", "backend", "p", "rate events/s", "events", "lead s", "rows", "p50 ms",
              "p99 ms", "max ms"]
    rows = []
    for l in runner.latencies:
        row = [l["query"], "cluster", l["backend"], str(l["p"]), fmt_int(l["rate"]), fmt_int(l["events"]),
               fmt_f(l["lead"], 1)]
        if l["error"]:
            rows.append(row + ["FAILED: " + l["error"].splitlines()[0], "", "", ""])
        else:
            rows.append(row + [fmt_int(l["rows"]), fmt_f(l["p50"], 1), fmt_f(l["p99"], 1),
                               fmt_f(l["max"], 1)])
    return header, rows


LEFT = {"query", "mode", "backend"}


def text_table(header, rows):
    widths = [len(h) for h in header]
    for row in rows:
        for i, c in enumerate(row):
            if not c.startswith("FAILED"):
                widths[i] = max(widths[i], len(c))

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            if c.startswith("FAILED"):
                out.append(c)
                break
            out.append(c.ljust(widths[i]) if header[i] in LEFT else c.rjust(widths[i]))
        return "  ".join(out).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def markdown_table(header, rows):
    align = [":--" if h in LEFT else "--:" for h in header]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def machine_lines(args):
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    commit = "unknown"
    try:
        commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                timeout=10).stdout.strip() or commit
    except (OSError, subprocess.SubprocessError):
        pass
    return [
        "CPU: %s" % model,
        "cores: %d online, %d usable by this process" % (os.cpu_count() or 0, usable),
        "command: %s" % shlex.join(["python3"] + sys.argv),
        "commit: %s; binaries: %s; job: %s" % (commit, args.bin_dir,
                                               os.path.join(args.examples_dir, "nexmark.so")),
        "date: %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    ]


EXPLANATION = [
    "cost: the single-threaded loop (eddy-nexmark-cost), its own wall and CPU time. local: `eddy "
    "local` (JobManager and TaskManagers in one process), CPU = the process's user+sys. cluster: "
    "`eddy run --wait` on a JobManager + %d TaskManager processes, wall = the CLI's (upload, "
    "deployment and all), job s = the JobManager's start-to-end time, CPU = user+sys of the "
    "JobManager and TaskManagers during the job plus the CLI's (job start included)." % CLUSTER_TASKMANAGERS,
    "events/s per core = events / CPU s; engine/COST per core = that figure over the COST loop's.",
]
LATENCY_EXPLANATION = (
    "Latency: the cluster (hashmap) at half the events/s (wall) of its throughput run, 15 s of "
    "events (at least 100,000), event 0 due `lead s` after submission (3 s, or the throughput run's "
    "time outside the job + 2 s if longer); how late each row reached the sink from when the event "
    "that completed it was due (histogram bucket upper bounds).")


# ---- Main -------------------------------------------------------------------------------------

def csv_list(allowed, what):
    def parse(text):
        items = [x.strip() for x in text.split(",") if x.strip()]
        if items == ["all"]:
            return list(allowed)
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError("unknown %s %s (choose from %s)"
                                             % (what, ",".join(bad) or "''", ",".join(allowed)))
        return [x for x in allowed if x in items]  # canonical order, no duplicates
    return parse


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Nexmark on Eddy (eddy local and a local cluster) next to the COST loop, per core.")
    ap.add_argument("--events", type=int, default=10000000, help="events per run (default 10,000,000)")
    ap.add_argument("-p", "--parallelism", type=int, default=2, help="engine parallelism (default 2)")
    ap.add_argument("--queries", type=csv_list(QUERIES, "query"), default=list(QUERIES),
                    help="comma-separated, or all (default): " + ",".join(QUERIES))
    ap.add_argument("--modes", type=csv_list(MODES, "mode"), default=list(MODES),
                    help="comma-separated of cost,local,cluster (default all)")
    ap.add_argument("--backends", type=csv_list(BACKENDS, "backend"), default=list(BACKENDS),
                    help="state backends of the stateful queries on the cluster (default "
                         "hashmap,rocksdb); local and stateless queries run the first")
    ap.add_argument("--no-latency", dest="latency", action="store_false",
                    help="skip the latency runs of q0 and q5")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as markdown to FILE")
    ap.add_argument("--checkpoint-interval", metavar="DURATION",
                    help="also run each stateful cluster run with checkpoints this often (e.g. 1s)")
    ap.add_argument("--recovery", action="store_true",
                    help="kill -9 the TaskManager of a checkpointed q5 and time the recovery")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "release", "bin"),
                    help="eddy, eddy-jobmanager, eddy-taskmanager, eddy-nexmark-cost "
                         "(default build/release/bin)")
    ap.add_argument("--examples-dir", default=os.path.join(ROOT, "build", "release", "examples"),
                    help="nexmark.so (default build/release/examples)")
    ap.add_argument("--run-timeout", type=float, default=1800, metavar="SECONDS",
                    help="kill a single run after this long and mark it failed (default 1800)")
    ap.add_argument("--work-dir", help="logs, cluster run dir and latency files (default: a "
                                       "temporary directory, removed unless a run failed)")
    args = ap.parse_args(argv)
    if args.events <= 0:
        ap.error("--events must be positive")
    if args.parallelism <= 0:
        ap.error("-p must be positive")
    args.bin_dir = os.path.abspath(args.bin_dir)
    args.examples_dir = os.path.abspath(args.examples_dir)
    return args


def check_binaries(args):
    need = []
    if "cost" in args.modes:
        need.append(os.path.join(args.bin_dir, "eddy-nexmark-cost"))
    if "local" in args.modes or "cluster" in args.modes:
        need += [os.path.join(args.bin_dir, "eddy"), os.path.join(args.examples_dir, "nexmark.so")]
    if "cluster" in args.modes:
        need += [os.path.join(args.bin_dir, "eddy-jobmanager"),
                 os.path.join(args.bin_dir, "eddy-taskmanager")]
    missing = [p for p in need if not os.path.isfile(p)]
    if missing:
        sys.exit("run.py: %s not found; run `make release` first (or point --bin-dir / "
                 "--examples-dir at a build)" % ", ".join(missing))


def on_sigterm(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    args = parse_args(argv)
    check_binaries(args)
    signal.signal(signal.SIGTERM, on_sigterm)
    own_work_dir = args.work_dir is None
    work_dir = tempfile.mkdtemp(prefix="eddy-nexmark-") if own_work_dir else os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)

    header = machine_lines(args)
    print("\n".join(header))
    print()
    sys.stdout.flush()
    progress("logs in %s" % work_dir)

    runner = Runner(args, work_dir)
    interrupted = False
    error = False
    try:
        runner.run()
    except KeyboardInterrupt:
        interrupted = True
        progress("interrupted; stopping")
    except BenchError as e:
        error = True
        runner.notes.append("error: " + str(e).splitlines()[0])
        progress("ERROR %s" % e)
    finally:
        try:
            runner.cluster.stop()
        except KeyboardInterrupt:
            runner.cluster.stop()
    total = time.monotonic() - START

    t_header, t_rows = results_table(runner)
    if t_rows:
        sections_text = [text_table(t_header, t_rows)] + EXPLANATION
        sections_md = [markdown_table(t_header, t_rows)] + EXPLANATION
    else:
        sections_text = sections_md = ["(no run finished)"]
    if runner.latencies:
        l_header, l_rows = latency_table(runner)
        sections_text += ["", text_table(l_header, l_rows), LATENCY_EXPLANATION]
        sections_md += [markdown_table(l_header, l_rows), LATENCY_EXPLANATION]
    chk_lines = checkpoint_cost_lines(runner)
    if chk_lines:
        sections_text += [""] + chk_lines
        sections_md += ["\n".join("- " + l for l in chk_lines)]
    if runner.recovery is not None:
        rec = runner.recovery
        if rec["error"]:
            line = "recovery: FAILED: " + rec["error"].splitlines()[0]
        else:
            line = ("recovery (q5, p=1, %s events/s, checkpoints every 1 s, kill -9 of its "
                    "TaskManager): restarted after %.2f s, all tasks running after %.2f s, first "
                    "checkpoint after the restart completed (exactly-once output visible again) "
                    "%.2f s after the kill" % (fmt_int(rec["rate"]), rec["restarted"] or -1,
                                               rec["running"] or -1, rec["output"]))
        sections_text += ["", line]
        sections_md += [line]
    failed = [r for r in runner.results if r.error] + [l for l in runner.latencies if l["error"]]
    if runner.recovery is not None and runner.recovery["error"]:
        failed.append(runner.recovery)
    footer = ["note: " + n for n in runner.notes]
    if interrupted:
        footer.append("interrupted: the tables are partial")
    footer.append("total time: %dm%02ds" % (total // 60, total % 60))
    if failed or interrupted or error:
        footer.append("logs: %s" % work_dir)
    print("\n".join(sections_text))
    print()
    print("\n".join(footer))

    if args.markdown:
        md = ["# Nexmark: Eddy vs the COST loop", ""]
        md += ["- " + l.replace("command: ", "command: `").rstrip() + ("`" if l.startswith("command: ") else "")
               for l in header]
        md += [""]
        for s in sections_md:
            md += [s, ""]
        md += ["- " + l for l in footer]
        with open(args.markdown, "w") as f:
            f.write("\n".join(md) + "\n")
        progress("markdown written to %s" % args.markdown)

    if own_work_dir and not failed and not interrupted and not error:
        shutil.rmtree(work_dir, ignore_errors=True)
    if interrupted:
        return 130
    return 1 if failed or error else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
