#!/usr/bin/env python3
"""Helper of image_test.sh: turns a rendering of deploy/kubernetes (kubectl kustomize) into
`buildah run` arguments that start the pods' containers from the image as Kubernetes would,
and generates and checks word_count's input and output.

  manifests.py plan RENDERED.yaml --secrets DIR --work DIR --pod-ip IP --taskmanagers N
               [--extra-volume HOST:CONTAINER]...
      DIR/<secretName>/<key> are the Secrets' files. Writes WORK/<instance>/{run-args,
      command} (NUL-separated: `buildah run` options, and the command with its arguments)
      for the instances jobmanager, taskmanager-1 .. taskmanager-N, the volumes' host
      directories under WORK/volumes, and WORK/plan.json (ports, REST scheme, mounts).
  manifests.py words FILE BYTES       writes a text of about BYTES bytes with a skewed vocabulary
  manifests.py compare INPUT OUTDIR   word_count's part files in OUTDIR against INPUT's counts

What Kubernetes would do and the plan does too: the command and args of the container;
its env with $(VAR) references expanded and fieldRef status.podIP / status.hostIP as the
pod IP; every volumeMount at its path (configMap and secret volumes with their items and
defaultMode, group-owned by the pod's fsGroup; emptyDir volumes per instance;
persistentVolumeClaim volumes shared by every instance, as one claim is).
What differs, because all instances share one host (each difference is a `--set` after the
manifest's command, listed in plan.json and printed by the test):
  * an address that binds every interface (0.0.0.0) is set to the pod IP (127.0.0.1), so
    that nothing listens beyond loopback;
  * a fixed port that is taken (the second TaskManager's, or one in use on this machine)
    is moved to a free one; a moved JobManager RPC port is given to the TaskManagers, as the
    Service's port mapping would.
"""
import argparse
import json
import os
import random
import re
import socket
import sys

import yaml

CONFIG_MAP = "eddy-config"
CONFIG_KEY = "eddy.yaml"
SERVICE = "eddy-jobmanager"
WILDCARDS = {"0.0.0.0", "::", "[::]", "*"}
# Keys each role binds to (a wildcard is narrowed to the pod IP) and the ports it listens on.
BIND_KEYS = {"jobmanager": ["jobmanager.rpc.address", "rest.address"],
             "taskmanager": ["taskmanager.host"]}
PORT_KEYS = {"jobmanager": ["jobmanager.rpc.port", "rest.port"],
             "taskmanager": ["taskmanager.rpc.port", "taskmanager.data.port"]}


def fail(message):
    print(f"manifests.py: {message}", file=sys.stderr)
    sys.exit(1)


def flatten(mapping, prefix=""):
    """Eddy's config files are flat dotted keys; nested mappings mean the same (docs)."""
    out = {}
    for key, value in (mapping or {}).items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def config_string(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expand(value, env):
    """Kubernetes' $(VAR) expansion: a defined earlier variable is replaced, $$ is a $."""
    def repl(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", repl, value)


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken):
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    fail("no free port")


class Rendering:
    def __init__(self, path):
        with open(path) as f:
            self.docs = [d for d in yaml.safe_load_all(f) if d]
        self.config_maps = {d["metadata"]["name"]: d for d in self.docs if d.get("kind") == "ConfigMap"}
        self.services = {d["metadata"]["name"]: d for d in self.docs if d.get("kind") == "Service"}

    def workload(self, binary):
        """The pod template and container whose command runs `binary`."""
        found = []
        for d in self.docs:
            if d.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            pod = d["spec"]["template"]["spec"]
            for c in pod.get("containers", []):
                if (c.get("command") or [None])[0] == binary:
                    found.append((d, pod, c))
        if len(found) != 1:
            fail(f"expected one workload whose container command is {binary}, found {len(found)}")
        return found[0]


def write_volume(vol, host, secrets_dir, config_maps, fs_group):
    """Fills `host` as the kubelet fills the volume `vol`; returns the kind."""
    def project(source_files, items, default_mode):
        os.makedirs(host, exist_ok=True)
        keys = [(i["key"], i["path"], i.get("mode")) for i in items] if items else \
               [(k, k, None) for k in sorted(source_files)]
        for key, rel, mode in keys:
            if key not in source_files:
                fail(f"volume {vol['name']}: key {key} is not in its source")
            dest = os.path.join(host, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            data = source_files[key]
            with open(dest, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
            os.chmod(dest, mode if mode is not None else default_mode)
            os.chown(dest, 0, fs_group if fs_group is not None else 0)
    if "configMap" in vol:
        name = vol["configMap"]["name"]
        if name not in config_maps:
            fail(f"volume {vol['name']}: ConfigMap {name} is not in the rendering")
        project(config_maps[name].get("data", {}), vol["configMap"].get("items"),
                vol["configMap"].get("defaultMode", 0o644))
        return "configMap"
    if "secret" in vol:
        name = vol["secret"]["secretName"]
        src = os.path.join(secrets_dir, name)
        if not os.path.isdir(src):
            fail(f"volume {vol['name']}: the test has no Secret {name} (made: {sorted(os.listdir(secrets_dir))})")
        files = {}
        for k in os.listdir(src):
            with open(os.path.join(src, k), "rb") as f:
                files[k] = f.read()
        project(files, vol["secret"].get("items"), vol["secret"].get("defaultMode", 0o644))
        return "secret"
    if "emptyDir" in vol or "persistentVolumeClaim" in vol:
        os.makedirs(host, exist_ok=True)
        # The kubelet makes an emptyDir world-writable; with fsGroup it is the group's (setgid).
        os.chown(host, 0, fs_group if fs_group is not None else 0)
        os.chmod(host, 0o2777 if fs_group is not None else 0o777)
        return "emptyDir" if "emptyDir" in vol else "persistentVolumeClaim"
    fail(f"volume {vol['name']}: kind {sorted(k for k in vol if k != 'name')} is not emulated")


def plan(args):
    r = Rendering(args.rendered)
    if CONFIG_MAP not in r.config_maps or CONFIG_KEY not in r.config_maps[CONFIG_MAP].get("data", {}):
        fail(f"no ConfigMap {CONFIG_MAP} with key {CONFIG_KEY} in the rendering")
    file_config = flatten(yaml.safe_load(r.config_maps[CONFIG_MAP]["data"][CONFIG_KEY]))
    if SERVICE not in r.services:
        fail(f"no Service {SERVICE} in the rendering")
    service_ports = {p["port"] for p in r.services[SERVICE]["spec"].get("ports", [])}

    os.makedirs(args.work, exist_ok=True)
    volumes_root = os.path.join(args.work, "volumes")
    taken = set()
    instances = []
    roles = [("jobmanager", "eddy-jobmanager", "jobmanager")] + \
            [("taskmanager", "eddy-taskmanager", f"taskmanager-{i}") for i in range(1, args.taskmanagers + 1)]
    jm_port_moves = {}
    for role, binary, name in roles:
        workload, pod, container = r.workload(binary)
        psc = pod.get("securityContext", {}) or {}
        csc = container.get("securityContext", {}) or {}
        run_as_user = csc.get("runAsUser", psc.get("runAsUser"))
        run_as_group = csc.get("runAsGroup", psc.get("runAsGroup"))
        fs_group = psc.get("fsGroup")
        if container.get("envFrom"):
            fail(f"{name}: envFrom is not emulated")

        # Environment, in order, as the kubelet builds it.
        env = {}
        for e in container.get("env", []) or []:
            if "value" in e:
                env[e["name"]] = expand(str(e["value"]), env)
            elif "valueFrom" in e and "fieldRef" in e["valueFrom"]:
                field = e["valueFrom"]["fieldRef"]["fieldPath"]
                values = {"status.podIP": args.pod_ip, "status.hostIP": args.pod_ip,
                          "metadata.name": f"{workload['metadata']['name']}-{name}",
                          "metadata.namespace": "default", "spec.nodeName": "node"}
                if field not in values:
                    fail(f"{name}: env {e['name']}: fieldRef {field} is not emulated")
                env[e["name"]] = values[field]
            else:
                fail(f"{name}: env {e['name']}: only value and fieldRef are emulated")
        properties = flatten(yaml.safe_load(env.get("EDDY_PROPERTIES", "")) or {})
        effective = {**file_config, **properties}

        command = [expand(str(a), env) for a in (container.get("command") or []) + (container.get("args") or [])]

        # Bind addresses and ports for one shared host (module docstring).
        sets = []
        for key in BIND_KEYS[role]:
            value = config_string(effective.get(key, "127.0.0.1"))
            if value in WILDCARDS:
                sets.append((key, args.pod_ip, f"{value} would listen beyond loopback"))
            elif value not in (args.pod_ip, "127.0.0.1", "localhost"):
                fail(f"{name}: {key} is {value}: neither the pod IP nor a wildcard")
        for key in PORT_KEYS[role]:
            port = int(config_string(effective.get(key, 0)))
            if port == 0:
                continue
            if port in taken or not port_free(port):
                moved = free_port(taken)
                sets.append((key, str(moved), f"port {port} is taken on this host"))
                if role == "jobmanager":
                    jm_port_moves[key] = moved
                port = moved
            taken.add(port)
        if role == "taskmanager" and "jobmanager.rpc.port" in jm_port_moves:
            sets.append(("jobmanager.rpc.port", str(jm_port_moves["jobmanager.rpc.port"]),
                         "the Service's port for the JobManager's moved RPC port"))
        for key, value, _ in sets:
            command += ["--set", f"{key}={value}"]
        final = dict(effective)
        final.update({k: v for k, v, _ in sets})

        # Volumes.
        vols = {v["name"]: v for v in pod.get("volumes", []) or []}
        mounts = sorted(container.get("volumeMounts", []) or [], key=lambda m: m["mountPath"])
        run_args = []
        mount_list = []
        host_of = {}
        for m in mounts:
            vol = vols.get(m["name"])
            if vol is None:
                fail(f"{name}: volumeMount {m['name']} names no volume")
            if "persistentVolumeClaim" in vol:
                # One claim, one directory, whichever pods mount it.
                host = os.path.join(volumes_root, "pvc", vol["persistentVolumeClaim"]["claimName"])
                kind = "persistentVolumeClaim"
                if not os.path.isdir(host):
                    write_volume(vol, host, args.secrets, r.config_maps, fs_group)
            else:
                host = os.path.join(volumes_root, name, vol["name"])
                kind = write_volume(vol, host, args.secrets, r.config_maps, fs_group)
            src = os.path.join(host, m["subPath"]) if m.get("subPath") else host
            # A mount inside an earlier (read-only) one needs its mount point there.
            for parent_path, parent_host in host_of.items():
                if m["mountPath"].startswith(parent_path.rstrip("/") + "/"):
                    os.makedirs(os.path.join(parent_host, os.path.relpath(m["mountPath"], parent_path)),
                                exist_ok=True)
            host_of[m["mountPath"]] = src
            ro = bool(m.get("readOnly")) or "configMap" in vol or "secret" in vol
            run_args += ["--volume", f"{src}:{m['mountPath']}:{'ro' if ro else 'rw'}"]
            mount_list.append({"path": m["mountPath"], "host": src, "volume": vol["name"],
                               "kind": kind, "readOnly": ro})
        for extra in args.extra_volume:
            host, path = extra.split(":", 1)
            run_args += ["--volume", f"{host}:{path}:rw"]
            mount_list.append({"path": path, "host": host, "volume": "(test data)", "kind": "test",
                               "readOnly": False})
        for k, v in env.items():
            run_args += ["--env", f"{k}={v}"]

        inst_dir = os.path.join(args.work, name)
        os.makedirs(inst_dir, exist_ok=True)
        for fname, items in (("run-args", run_args), ("command", command)):
            with open(os.path.join(inst_dir, fname), "wb") as f:
                f.write(b"".join(a.encode() + b"\0" for a in items))
        instances.append({
            "name": name, "role": role, "binary": binary, "workload": workload["metadata"]["name"],
            "command": command, "env": env, "mounts": mount_list,
            "overrides": [{"key": k, "value": v, "why": why} for k, v, why in sets],
            "runAsUser": run_as_user, "runAsGroup": run_as_group, "fsGroup": fs_group,
            "readOnlyRootFilesystem": bool(csc.get("readOnlyRootFilesystem")),
            "config": {k: config_string(v) for k, v in final.items()},
        })

    jm = instances[0]["config"]
    for port_key in ("jobmanager.rpc.port", "rest.port"):
        declared = int(config_string(file_config.get(port_key, 0)))
        if declared and declared not in service_ports:
            fail(f"Service {SERVICE} does not expose {port_key} {declared} (ports {sorted(service_ports)})")
    summary = {
        "instances": instances,
        "rest": {"port": int(jm.get("rest.port", 8081)),
                 "tls": jm.get("security.ssl.rest.enabled", "false") == "true",
                 "tokens_file": jm.get("rest.auth.tokens-file", "")},
        "service": {"name": SERVICE, "ports": sorted(service_ports)},
    }
    with open(os.path.join(args.work, "plan.json"), "w") as f:
        json.dump(summary, f, indent=2)


def words(args):
    """A text with a skewed vocabulary, mixed case and assorted separators, like
    tests/support/word_count.h's WriteWords."""
    rng = random.Random(2026)
    vocabulary = [f"w{i * 7919 % 100003}" for i in range(5000)]
    separators = [" ", ", ", "; ", " -- ", ". "]
    written = 0
    with open(args.file, "w") as out:
        while written < args.bytes:
            parts = []
            for _ in range(1 + rng.randrange(14)):
                r = rng.randrange(5000)
                w = vocabulary[(r * r) // 5000]
                if rng.randrange(10) == 0:
                    w = "W" + w[1:]
                parts.append(w + rng.choice(separators))
            line = "".join(parts) + "\n"
            out.write(line)
            written += len(line)


def compare(args):
    """The reference counts by a regular expression (not word_count's loop) against the
    job's "word<TAB>count" lines; exit 1 on any difference."""
    expected = {}
    with open(args.input) as f:
        for line in f:
            for w in re.findall(r"[a-z0-9]+", line.lower()):
                expected[w] = expected.get(w, 0) + 1
    got = {}
    problems = []
    parts = sorted(p for p in os.listdir(args.outdir) if p.startswith("part-"))
    if not parts:
        fail(f"no part files in {args.outdir}: {sorted(os.listdir(args.outdir))}")
    for p in parts:
        with open(os.path.join(args.outdir, p)) as f:
            for line in f:
                line = line.rstrip("\n")
                word, tab, count = line.partition("\t")
                if not tab or not count.isdigit():
                    problems.append(f"malformed line {line!r} in {p}")
                    continue
                if word in got:
                    problems.append(f"word {word!r} appears twice")
                got[word] = int(count)
    for w in sorted(set(expected) | set(got)):
        if expected.get(w) != got.get(w):
            problems.append(f"{w!r}: expected {expected.get(w)}, got {got.get(w)}")
    if problems:
        print(f"word_count output differs from the reference in {len(problems)} ways, e.g.:",
              file=sys.stderr)
        for p in problems[:10]:
            print(f"  {p}", file=sys.stderr)
        sys.exit(1)
    print(f"word_count: {len(got)} distinct words, {sum(got.values())} words in {len(parts)} "
          f"part files, equal to the reference")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("rendered")
    p.add_argument("--secrets", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--pod-ip", default="127.0.0.1")
    p.add_argument("--taskmanagers", type=int, default=2)
    p.add_argument("--extra-volume", action="append", default=[])
    w = sub.add_parser("words")
    w.add_argument("file")
    w.add_argument("bytes", type=int)
    c = sub.add_parser("compare")
    c.add_argument("input")
    c.add_argument("outdir")
    args = ap.parse_args()
    if args.cmd == "plan":
        # buildah needs absolute host paths.
        args.work = os.path.abspath(args.work)
        args.secrets = os.path.abspath(args.secrets)
        args.extra_volume = [os.path.abspath(v.split(":", 1)[0]) + ":" + v.split(":", 1)[1]
                             for v in args.extra_volume]
    {"plan": plan, "words": words, "compare": compare}[args.cmd](args)


if __name__ == "__main__":
    main()
