#!/usr/bin/env node
// Validates Eddy's Kubernetes manifests (deploy/kubernetes): every kustomization renders
// without an error or a warning, every rendered object passes the Kubernetes schemas
// (npm package kubernetes-models), and the manifests agree with Eddy's own configuration
// as the binaries read it (`eddy-jobmanager|eddy-taskmanager --config FILE --print-config`
// with each container's EDDY_PROPERTIES): ports, addresses, mounted files and directories,
// Secrets, S3 credentials, memory, the container contract of the image, and the
// application Job.
//
//   node tests/deploy/kubernetes/validate.mjs [--dir DIR] [--bin-dir DIR] [--mutations]
//
// --dir        the deploy/kubernetes tree to check (default: this repository's)
// --bin-dir    where eddy-jobmanager and eddy-taskmanager are ($EDDY_BIN_DIR, else build/bin)
// --mutations  then prove that the checks can fail: each mutation in MUTATIONS (a renamed
//              key, a changed port, ...) is applied to a temporary copy of the tree, which
//              must then fail with the expected message
//
// Needs kubectl (kustomize v5) on PATH and deploy/npm/node_modules (deploy/install-deps.sh).
// Exit status: 0 when everything holds, 1 on a failed check, 2 on a usage or setup error.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const NPM_DIR = path.join(REPO, "deploy/npm");
const DOC = path.join(REPO, "docs/deploy-kubernetes.md");
const CERT_SCRIPT = path.join(REPO, "deploy/make-cluster-certs.sh");

// ---------------------------------------------------------------------------------------
// The contract between the manifests and the image (deploy's container image is built to
// match it) and between the manifests and Eddy's configuration.

const IMAGE = { name: "eddy", tag: "0.1.0" };
const USER_ID = 9999;
const ROLES = {
  jobmanager: {
    deployment: "eddy-jobmanager",
    container: "jobmanager",
    binary: "eddy-jobmanager",
    command: ["eddy-jobmanager", "--config", "/etc/eddy/eddy.yaml"],
  },
  taskmanager: {
    deployment: "eddy-taskmanager",
    container: "taskmanager",
    binary: "eddy-taskmanager",
    command: ["eddy-taskmanager", "--config", "/etc/eddy/eddy.yaml"],
  },
};
// What $(POD_IP) and other downward-API fields stand for when EDDY_PROPERTIES is evaluated.
const FIELD_VALUES = {
  "status.podIP": "10.0.0.7",
  "metadata.name": "eddy-pod-0",
  "metadata.namespace": "default",
  "spec.nodeName": "node-0",
};
// A TaskManager's memory besides RocksDB and network buffers (the process, user code, S3
// upload parts); the container's limit must leave at least this much.
const TASKMANAGER_PROCESS_MIB = 512;
const NETWORK_BUFFER_BYTES = 32 * 1024;

// Keys that name a file or directory, and which process uses each (read from the code:
// jobmanager/jobmanager.cc, taskmanager/taskmanager.cc, common/tls.cc, the state
// backends). "read": a file that must be mounted (Secret or ConfigMap); "write": a
// directory that must be a writable volume (the root file system is read-only); "shared":
// every pod must reach the same one. A key not listed here whose value lies under
// /etc/eddy/ is taken to be read by both processes.
const BOTH = ["jobmanager", "taskmanager"];
const PATH_KEYS = {
  "security.ssl.internal.cert": { roles: BOTH, use: "read", when: (c) => c["security.ssl.internal.enabled"] === "true" },
  "security.ssl.internal.key": { roles: BOTH, use: "read", when: (c) => c["security.ssl.internal.enabled"] === "true" },
  "security.ssl.internal.trust-cert": { roles: BOTH, use: "read", when: (c) => c["security.ssl.internal.enabled"] === "true" },
  "security.ssl.rest.cert": { roles: ["jobmanager"], use: "read", when: (c) => c["security.ssl.rest.enabled"] === "true" },
  "security.ssl.rest.key": { roles: ["jobmanager"], use: "read", when: (c) => c["security.ssl.rest.enabled"] === "true" },
  "rest.auth.tokens-file": { roles: ["jobmanager"], use: "read" },
  "blob.storage.directory": { roles: ["jobmanager"], use: "write" },
  "jobmanager.archive.fs.dir": { roles: ["jobmanager"], use: "write" },
  "taskmanager.tmp.dir": { roles: ["taskmanager"], use: "write" },
  "state.backend.rocksdb.localdir": { roles: ["taskmanager"], use: "write", emptyMeans: "/tmp" },
  "state.checkpoints.dir": { roles: BOTH, use: "write", shared: true },
  "state.savepoints.dir": { roles: BOTH, use: "write", shared: true },
};

// Secrets the manifests may reference: none is committed (a rendering that contains a
// Secret fails); each is made by a command in docs/deploy-kubernetes.md. keys: what the
// Secret holds, so what a volume item or secretKeyRef may name.
function secretTable() {
  return {
    // Every file deploy/make-cluster-certs.sh makes, except the CA's key (kept offline).
    "eddy-tls": { keys: certScriptFiles().filter((f) => f !== "ca-key.pem") },
    "eddy-rest-tokens": { keys: ["tokens"] },
    "eddy-submit-token": { keys: ["token"] },
  };
}

// S3 credentials come from the IAM role of the pods' ServiceAccount (EKS IRSA: this
// annotation; Eddy's credential chain exchanges the web identity token EKS injects with
// STS), never from static keys: none of these may be set in a container's env, and the
// s3.* key pair stays empty in the configuration.
const IRSA_ANNOTATION = "eks.amazonaws.com/role-arn";
const STATIC_AWS_ENV = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];
const STATIC_AWS_CONFIG_KEYS = ["s3.access-key", "s3.secret-key"];

function certScriptFiles() {
  const text = fs.readFileSync(CERT_SCRIPT, "utf8");
  return [...new Set([...text.matchAll(/\$DIR\/([A-Za-z0-9._-]+\.pem)/g)].map((m) => m[1]))].sort();
}

// ---------------------------------------------------------------------------------------
// Setup

function parseArgs(argv) {
  const opts = {
    dir: path.join(REPO, "deploy/kubernetes"),
    binDir: process.env.EDDY_BIN_DIR || path.join(REPO, "build/bin"),
    mutations: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--dir") opts.dir = path.resolve(argv[++i] ?? "");
    else if (a === "--bin-dir") opts.binDir = path.resolve(argv[++i] ?? "");
    else if (a === "--mutations") opts.mutations = true;
    else usage(`unknown argument '${a}'`);
  }
  return opts;
}

function usage(message) {
  console.error(`validate.mjs: ${message}`);
  console.error("usage: node tests/deploy/kubernetes/validate.mjs [--dir DIR] [--bin-dir DIR] [--mutations]");
  process.exit(2);
}

function setupError(message) {
  console.error(`validate.mjs: ${message}`);
  process.exit(2);
}

const require = createRequire(path.join(NPM_DIR, "package.json"));
let YAML;

function loadDependencies(binDir) {
  if (!fs.existsSync(path.join(NPM_DIR, "node_modules/kubernetes-models/package.json")) ||
      !fs.existsSync(path.join(NPM_DIR, "node_modules/yaml/package.json"))) {
    setupError("deploy/npm/node_modules/kubernetes-models (or yaml) is missing: run deploy/install-deps.sh " +
               "(or npm ci --prefix deploy/npm)");
  }
  YAML = require("yaml");
  const kubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" });
  if (kubectl.error || kubectl.status !== 0) {
    setupError("kubectl is not on PATH (needed for `kubectl kustomize`, kustomize v5)");
  }
  for (const role of Object.values(ROLES)) {
    const bin = path.join(binDir, role.binary);
    if (!fs.existsSync(bin)) setupError(`${bin} not found: build Eddy first, or set EDDY_BIN_DIR`);
  }
}

// ---------------------------------------------------------------------------------------
// Rendering and schemas

// The kustomizations under DIR: each Kustomization renders as it is; each Component is
// rendered on top of the Kustomization in the directory above it.
function discoverRenderings(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(path.join(d, entry.name));
    }
    const file = path.join(d, "kustomization.yaml");
    if (!fs.existsSync(file)) return;
    const rel = path.relative(dir, d) || ".";
    let kind = "Kustomization";
    try {
      kind = YAML.parse(fs.readFileSync(file, "utf8"))?.kind ?? "Kustomization";
    } catch {
      // kubectl kustomize reports it
    }
    if (kind === "Component") {
      out.push({ name: `${path.dirname(rel)} + ${path.basename(rel)}`, base: path.dirname(rel), component: rel });
    } else {
      out.push({ name: rel, base: rel });
    }
  };
  walk(dir);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function kustomize(dir, rendering, tmp) {
  let target = path.join(dir, rendering.base);
  if (rendering.component) {
    // A throwaway kustomization that adds the component to its parent (relative paths:
    // kustomize refuses absolute ones).
    target = fs.mkdtempSync(path.join(tmp, "variant-"));
    const rel = (p) => path.relative(target, path.join(dir, p));
    fs.writeFileSync(path.join(target, "kustomization.yaml"),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n` +
      `resources:\n  - ${rel(rendering.base)}\ncomponents:\n  - ${rel(rendering.component)}\n`);
  }
  const r = spawnSync("kubectl", ["kustomize", target], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "").trim(), error: r.error };
}

const modelCache = new Map();
function modelFor(apiVersion, kind) {
  const id = `${apiVersion}/${kind}`;
  if (!modelCache.has(id)) {
    let model = null;
    if (/^[a-z0-9.]+(\/v[0-9a-z]+)?$/.test(apiVersion) && /^[A-Za-z]+$/.test(kind)) {
      try {
        model = require(`kubernetes-models/${apiVersion}/${kind}`)[kind] ?? null;
      } catch {
        model = null;
      }
    }
    modelCache.set(id, model);
  }
  return modelCache.get(id);
}

function schemaErrors(obj) {
  const Model = modelFor(obj.apiVersion, obj.kind);
  if (!Model) return [`no Kubernetes schema for apiVersion ${obj.apiVersion}, kind ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    const details = (e.errors ?? []).map((x) => `${x.instancePath || "/"} ${x.message}`);
    return details.length ? details : [e.message];
  }
}

// ---------------------------------------------------------------------------------------
// Helpers on rendered objects

const ref = (o) => `${o.kind}/${o.metadata?.name}`;

function selects(selector, labels) {
  if (!selector || !labels) return false;
  const matchLabels = selector.matchLabels ?? (selector.matchExpressions ? {} : selector);
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

// A port of a container by number or name -> its number (undefined when the name is not
// one of the container's ports).
function containerPortNumber(container, port) {
  if (typeof port === "number") return port;
  if (typeof port === "string" && /^\d+$/.test(port)) return Number(port);
  return container?.ports?.find((p) => p.name === port)?.containerPort;
}

function probePort(probe) {
  return probe?.httpGet?.port ?? probe?.tcpSocket?.port ?? probe?.grpc?.port;
}

// Kubernetes resource quantities -> bytes.
function quantityBytes(q) {
  if (q === undefined || q === null) return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(String(q));
  if (!m) return undefined;
  const units = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
                  k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  return Number(m[1]) * (m[2] ? units[m[2]] : 1);
}

// Eddy's memory sizes (docs/configuration.md: binary units, any case; bare = bytes).
function eddyBytes(text) {
  const m = /^\s*([0-9]+)\s*([a-zA-Z]*)\s*$/.exec(String(text ?? ""));
  if (!m) return undefined;
  let unit = m[2].toLowerCase();
  if (unit.length === 3 && unit.endsWith("ib")) unit = unit[0];
  if (unit.length === 2 && unit.endsWith("b")) unit = unit[0];
  const shift = { "": 0, b: 0, k: 10, m: 20, g: 30, t: 40 }[unit];
  return shift === undefined ? undefined : Number(m[1]) * 2 ** shift;
}

const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MiB`;

// The mount that holds PATH in a container: the longest mountPath that is PATH or a
// parent of it. Returns { mount, volume, rel } (rel: PATH inside the volume).
function mountFor(podSpec, container, p) {
  let best = null;
  for (const m of container.volumeMounts ?? []) {
    const mp = m.mountPath.replace(/\/+$/, "") || "/";
    if (p === mp || p.startsWith(mp === "/" ? "/" : `${mp}/`)) {
      if (!best || mp.length > best.mp.length) best = { mp, mount: m };
    }
  }
  if (!best) return null;
  let rel = p === best.mp ? "" : p.slice(best.mp.length + (best.mp === "/" ? 0 : 1));
  if (best.mount.subPath) rel = rel ? `${best.mount.subPath}/${rel}` : best.mount.subPath;
  const volume = (podSpec.volumes ?? []).find((v) => v.name === best.mount.name);
  return { mount: best.mount, volume, rel };
}

// The files a Secret, ConfigMap or projected volume shows: path -> { kind, name, key }.
function volumeFiles(volume, objects, secrets) {
  const files = new Map();
  const add = (kind, name, items, allKeys) => {
    if (items?.length) {
      for (const it of items) files.set(it.path, { kind, name, key: it.key });
    } else {
      for (const k of allKeys ?? []) files.set(k, { kind, name, key: k });
    }
  };
  const configMapKeys = (name) => {
    const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === name);
    return cm ? Object.keys({ ...cm.data, ...cm.binaryData }) : [];
  };
  if (volume?.secret) add("Secret", volume.secret.secretName, volume.secret.items, secrets[volume.secret.secretName]?.keys);
  if (volume?.configMap) add("ConfigMap", volume.configMap.name, volume.configMap.items, configMapKeys(volume.configMap.name));
  for (const s of volume?.projected?.sources ?? []) {
    if (s.secret) add("Secret", s.secret.name, s.secret.items, secrets[s.secret.name]?.keys);
    if (s.configMap) add("ConfigMap", s.configMap.name, s.configMap.items, configMapKeys(s.configMap.name));
  }
  return files;
}

// Kubernetes expands $(VAR) in env values, command and args from the variables defined
// before (in env order); an undefined one stays as it is. Returns the container's env as
// the process sees it (fieldRef values from FIELD_VALUES), and the problems found.
function containerEnv(container) {
  const env = {};
  const problems = [];
  const expand = (text, where) =>
    text.replace(/(\$+)\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, dollars, name) => {
      if (dollars.length % 2 === 0) return whole.slice(1); // $$(X) is a literal $(X)
      if (!Object.hasOwn(env, name)) {
        problems.push(`${where} uses $(${name}), which is not defined before it in the container's env ` +
                      `(Kubernetes would pass "$(${name})" literally)`);
        return whole;
      }
      return env[name];
    });
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(e.value, `env ${e.name}`);
    else if (e.valueFrom?.fieldRef) {
      const v = FIELD_VALUES[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) problems.push(`env ${e.name}: no test value for fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = v ?? "";
    } else if (e.valueFrom?.secretKeyRef) env[e.name] = `<secret ${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}>`;
    else env[e.name] = "";
  }
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((a) => expand(String(a), "command"));
  return { env, argv, problems };
}

function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Eddy's effective configuration

function printConfig(binDir, role, configText, properties, tmp) {
  const file = path.join(fs.mkdtempSync(path.join(tmp, `${role}-`)), "eddy.yaml");
  fs.writeFileSync(file, configText);
  // A clean environment (no EDDY_PROPERTIES or AWS_* of the caller), but what a sanitizer
  // build needs.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp };
  for (const k of ["LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS"]) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  if (properties !== undefined) env.EDDY_PROPERTIES = properties;
  const r = spawnSync(path.join(binDir, ROLES[role].binary), ["--config", file, "--print-config"],
                      { encoding: "utf8", env, timeout: 60_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
    const err = (r.stderr ?? "").trim().split("\n").slice(0, 3).join(" | ");
    return { error: `${ROLES[role].binary} --config eddy.yaml --print-config with EDDY_PROPERTIES=` +
                    `${JSON.stringify(properties ?? "")}: ${why}: ${err || "(no message)"}` };
  }
  const config = {};
  for (const line of r.stdout.split("\n")) {
    if (!line.trim()) continue;
    const i = line.indexOf(": ");
    if (i < 0) return { error: `${ROLES[role].binary} --print-config printed a line that is not "key: value": ${line}` };
    const value = line.slice(i + 2);
    config[line.slice(0, i)] = value === '""' ? "" : value;
  }
  return { config };
}

// ---------------------------------------------------------------------------------------
// The checks. Each returns a list of failure messages (empty: it holds).

function contractChecks(r) {
  const out = [];
  for (const [role, spec] of Object.entries(ROLES)) {
    const p = r.pods[role];
    if (!p) {
      out.push(`Deployment ${spec.deployment} is missing`);
      continue;
    }
    const names = p.spec.containers.map((c) => c.name);
    if (names.length !== 1 || names[0] !== spec.container) {
      out.push(`Deployment ${spec.deployment}: expected one container "${spec.container}", found [${names.join(", ")}]`);
    }
    const c = p.container;
    if (!c) continue;
    const [repo, tag] = (c.image ?? "").split(/:(?=[^:/]*$)/);
    if (path.posix.basename(repo ?? "") !== IMAGE.name || tag !== IMAGE.tag) {
      out.push(`${spec.deployment}: image is ${c.image}, expected ${IMAGE.name}:${IMAGE.tag} (or REGISTRY/${IMAGE.name}:${IMAGE.tag})`);
    }
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    if (JSON.stringify(argv) !== JSON.stringify(spec.command)) {
      out.push(`${spec.deployment}: command is ${JSON.stringify(argv)}, the image contract says ${JSON.stringify(spec.command)}`);
    }
    const podSc = p.spec.securityContext ?? {};
    const sc = c.securityContext ?? {};
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) out.push(`${spec.deployment}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? podSc.runAsUser) !== USER_ID) out.push(`${spec.deployment}: runAsUser is not ${USER_ID} (the image's user eddy)`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${spec.deployment}: readOnlyRootFilesystem is not true`);
    if (!(p.spec.terminationGracePeriodSeconds > 0)) out.push(`${spec.deployment}: terminationGracePeriodSeconds is not set`);
    const sa = p.spec.serviceAccountName;
    if (!sa) out.push(`${spec.deployment}: no serviceAccountName`);
    else if (!r.objects.some((o) => o.kind === "ServiceAccount" && o.metadata.name === sa)) {
      out.push(`${spec.deployment}: serviceAccountName ${sa} is not a ServiceAccount of the rendering`);
    }
    out.push(...p.envProblems.map((m) => `${spec.deployment}: ${m}`));
  }
  const jm = r.deployments.jobmanager;
  if (jm) {
    if ((jm.spec.replicas ?? 1) !== 1) out.push(`Deployment eddy-jobmanager: replicas is ${jm.spec.replicas}, must be 1 (no JobManager HA)`);
    if (jm.spec.strategy?.type !== "Recreate") out.push("Deployment eddy-jobmanager: strategy is not Recreate (two JobManagers would run at once)");
  }
  for (const sa of r.objects.filter((o) => o.kind === "ServiceAccount")) {
    const arn = sa.metadata.annotations?.[IRSA_ANNOTATION];
    if (!arn || !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/.test(arn)) {
      out.push(`ServiceAccount ${sa.metadata.name}: annotation ${IRSA_ANNOTATION} is missing or not an IAM role ARN (${arn})`);
    }
  }
  const tmEnv = r.pods.taskmanager?.container?.env ?? [];
  const podIp = tmEnv.find((e) => e.valueFrom?.fieldRef?.fieldPath === "status.podIP");
  if (!podIp) out.push("eddy-taskmanager: no env variable from the downward API status.podIP");
  return out;
}

function configChecks(r) {
  const out = [];
  for (const role of Object.keys(ROLES)) if (r.configErrors[role]) out.push(r.configErrors[role]);
  return out;
}

// Port equalities: what the manifests say == what Eddy listens on or connects to.
const PORT_RULES = [
  { what: 'Service eddy-jobmanager port "rpc"', role: "jobmanager", key: "jobmanager.rpc.port", get: (r) => r.service?.spec.ports?.find((p) => p.name === "rpc")?.port },
  { what: 'Service eddy-jobmanager port "rpc" (where the TaskManagers connect)', role: "taskmanager", key: "jobmanager.rpc.port", get: (r) => r.service?.spec.ports?.find((p) => p.name === "rpc")?.port },
  { what: 'Service eddy-jobmanager port "rest"', role: "jobmanager", key: "rest.port", get: (r) => r.service?.spec.ports?.find((p) => p.name === "rest")?.port },
  { what: 'Service eddy-jobmanager port "rpc": its targetPort in the JobManager container', role: "jobmanager", key: "jobmanager.rpc.port", get: (r) => targetPort(r, r.service?.spec.ports?.find((p) => p.name === "rpc")) },
  { what: 'Service eddy-jobmanager port "rest": its targetPort in the JobManager container', role: "jobmanager", key: "rest.port", get: (r) => targetPort(r, r.service?.spec.ports?.find((p) => p.name === "rest")) },
  { what: 'JobManager containerPort "rpc"', role: "jobmanager", key: "jobmanager.rpc.port", get: (r) => containerPortNumber(r.pods.jobmanager?.container, "rpc") },
  { what: 'JobManager containerPort "rest"', role: "jobmanager", key: "rest.port", get: (r) => containerPortNumber(r.pods.jobmanager?.container, "rest") },
  { what: "JobManager readinessProbe port", role: "jobmanager", key: "rest.port", get: (r) => containerPortNumber(r.pods.jobmanager?.container, probePort(r.pods.jobmanager?.container?.readinessProbe)) },
  { what: "JobManager livenessProbe port", role: "jobmanager", key: "rest.port", get: (r) => containerPortNumber(r.pods.jobmanager?.container, probePort(r.pods.jobmanager?.container?.livenessProbe)) },
  { what: "JobManager pod annotation prometheus.io/port", role: "jobmanager", key: "rest.port", get: (r) => numberOrUndefined(r.pods.jobmanager?.annotations?.["prometheus.io/port"]) },
  { what: 'TaskManager containerPort "rpc"', role: "taskmanager", key: "taskmanager.rpc.port", get: (r) => containerPortNumber(r.pods.taskmanager?.container, "rpc") },
  { what: 'TaskManager containerPort "data"', role: "taskmanager", key: "taskmanager.data.port", get: (r) => containerPortNumber(r.pods.taskmanager?.container, "data") },
  { what: "TaskManager readinessProbe port", role: "taskmanager", key: "taskmanager.rpc.port", get: (r) => containerPortNumber(r.pods.taskmanager?.container, probePort(r.pods.taskmanager?.container?.readinessProbe)) },
  { what: "TaskManager livenessProbe port", role: "taskmanager", key: "taskmanager.rpc.port", get: (r) => containerPortNumber(r.pods.taskmanager?.container, probePort(r.pods.taskmanager?.container?.livenessProbe)) },
];

function numberOrUndefined(v) {
  return v !== undefined && /^\d+$/.test(String(v)) ? Number(v) : undefined;
}

function targetPort(r, servicePort) {
  if (!servicePort) return undefined;
  return containerPortNumber(r.pods.jobmanager?.container, servicePort.targetPort ?? servicePort.port);
}

function portChecks(r) {
  const out = [];
  for (const rule of PORT_RULES) {
    const config = r.configs[rule.role];
    if (!config) continue; // reported by configChecks
    const want = Number(config[rule.key]);
    const got = rule.get(r);
    if (got === undefined) out.push(`${rule.what} is missing or does not resolve to a container port (${rule.key} is ${want})`);
    else if (got !== want) out.push(`${rule.what} is ${got}, but ${rule.key} is ${want} (${rule.role})`);
    if (want === 0) out.push(`${rule.key} is 0 (a random port) in the ${rule.role}'s configuration: a port in a manifest must be fixed`);
  }
  // Every Service in front of the JobManager: each port reaches a declared container port;
  // a Service reachable from outside the cluster exposes REST only, never RPC.
  for (const svc of r.objects.filter((o) => o.kind === "Service")) {
    if (!r.pods.jobmanager || !selects(svc.spec.selector, r.pods.jobmanager.labels)) continue;
    for (const p of svc.spec.ports ?? []) {
      const n = targetPort(r, p);
      if (n === undefined) out.push(`Service ${svc.metadata.name} port ${p.name ?? p.port}: targetPort ${p.targetPort ?? p.port} is not a port of the JobManager container`);
      const external = ["LoadBalancer", "NodePort"].includes(svc.spec.type);
      if (external && r.configs.jobmanager && n === Number(r.configs.jobmanager["jobmanager.rpc.port"])) {
        out.push(`Service ${svc.metadata.name} (${svc.spec.type}) exposes the JobManager's RPC port outside the cluster`);
      }
    }
  }
  if (r.pods.taskmanager && !r.objects.some((o) => o.kind === "Service" && selects(o.spec.selector, r.pods.jobmanager?.labels))) {
    out.push("no Service selects the JobManager pods");
  }
  return out;
}

// Addresses, TLS, tokens, probes and scraping as Eddy sees them.
const VALUE_RULES = [
  { what: "the TaskManagers reach the JobManager through its Service", role: "taskmanager", key: "jobmanager.rpc.address",
    check: (v, r) => (r.service && (v === r.service.metadata.name || v.startsWith(`${r.service.metadata.name}.`)))
      ? null : `is '${v}', expected the Service's name '${r.service?.metadata.name}' (or its DNS name)` },
  { what: "the JobManager binds its RPC endpoint (jobmanager.rpc.address is its listen address)", role: "jobmanager", key: "jobmanager.rpc.address",
    check: (v) => (net.isIP(v) && !["127.0.0.1", "::1"].includes(v)) ? null : `is '${v}', expected an IP address beyond loopback (0.0.0.0) from the JobManager's EDDY_PROPERTIES` },
  { what: "the JobManager's REST endpoint is reachable through the Service", role: "jobmanager", key: "rest.address",
    check: (v) => ["0.0.0.0", "::"].includes(v) ? null : `is '${v}', expected 0.0.0.0` },
  { what: "the TaskManager binds and advertises its pod IP", role: "taskmanager", key: "taskmanager.host",
    check: (v) => v === FIELD_VALUES["status.podIP"] ? null : `is '${v}', expected the pod IP ${FIELD_VALUES["status.podIP"]} (EDDY_PROPERTIES "taskmanager.host: $(POD_IP)")` },
  { what: "internal TLS (required beyond loopback)", role: "jobmanager", key: "security.ssl.internal.enabled", check: (v) => v === "true" ? null : `is ${v}` },
  { what: "internal TLS (required beyond loopback)", role: "taskmanager", key: "security.ssl.internal.enabled", check: (v) => v === "true" ? null : `is ${v}` },
  { what: "REST tokens (required beyond loopback)", role: "jobmanager", key: "rest.auth.tokens-file", check: (v) => v ? null : "is empty" },
  { what: "no insecure cluster", role: "jobmanager", key: "security.allow-insecure-cluster", check: (v) => v === "false" ? null : `is ${v}` },
  { what: "no insecure cluster", role: "taskmanager", key: "security.allow-insecure-cluster", check: (v) => v === "false" ? null : `is ${v}` },
];

function valueChecks(r) {
  const out = [];
  for (const rule of VALUE_RULES) {
    const config = r.configs[rule.role];
    if (!config) continue;
    if (!Object.hasOwn(config, rule.key)) {
      out.push(`${rule.key} is not in the ${rule.role}'s --print-config output (${rule.what})`);
      continue;
    }
    const problem = rule.check(config[rule.key], r);
    if (problem) out.push(`${rule.what}: ${rule.key} (${rule.role}) ${problem}`);
  }
  const jmConfig = r.configs.jobmanager;
  const jm = r.pods.jobmanager;
  if (jmConfig && jm) {
    const openPaths = jmConfig["rest.auth.open-paths"].split(";").map((s) => s.trim()).filter(Boolean);
    const https = jmConfig["security.ssl.rest.enabled"] === "true";
    for (const name of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const probe = jm.container?.[name];
      if (!probe) {
        if (name !== "startupProbe") out.push(`JobManager: no ${name}`);
        continue;
      }
      if (!probe.httpGet) {
        out.push(`JobManager ${name}: not an httpGet probe`);
        continue;
      }
      const scheme = probe.httpGet.scheme ?? "HTTP";
      if (scheme !== (https ? "HTTPS" : "HTTP")) out.push(`JobManager ${name}: scheme ${scheme}, but security.ssl.rest.enabled is ${https}`);
      if (!openPaths.includes(probe.httpGet.path)) out.push(`JobManager ${name}: path ${probe.httpGet.path} is not in rest.auth.open-paths (${openPaths.join(";")}): it would get 401`);
    }
    const ann = jm.annotations ?? {};
    if (ann["prometheus.io/scrape"] !== "true") out.push('JobManager pod: annotation prometheus.io/scrape is not "true"');
    if (!openPaths.includes(ann["prometheus.io/path"])) out.push(`JobManager pod: prometheus.io/path ${ann["prometheus.io/path"]} is not in rest.auth.open-paths (${openPaths.join(";")})`);
    if (https && ann["prometheus.io/scheme"] !== "https") out.push('JobManager pod: REST speaks HTTPS but prometheus.io/scheme is not "https"');
  }
  const tm = r.pods.taskmanager;
  for (const name of ["readinessProbe", "livenessProbe"]) {
    if (tm && !tm.container?.[name]?.tcpSocket) out.push(`TaskManager ${name}: not a tcpSocket probe (a TaskManager has no HTTP port)`);
  }
  return out;
}

// Files under /etc/eddy are mounted from the right Secret or ConfigMap key; directories the
// processes write are writable volumes; checkpoint directories are shared in overlays.
function pathChecks(r) {
  const out = [];
  const claims = {};
  for (const [role, p] of Object.entries(r.pods)) {
    const config = r.configs[role];
    if (!config || !p?.container) continue;
    const keys = new Set([...Object.keys(PATH_KEYS), ...Object.keys(config).filter((k) => String(config[k]).startsWith("/etc/eddy/"))]);
    for (const key of keys) {
      const rule = PATH_KEYS[key] ?? { roles: BOTH, use: "read" };
      if (!rule.roles.includes(role) || !Object.hasOwn(config, key)) continue;
      if (rule.when && !rule.when(config)) continue;
      let value = config[key];
      if (value === "" && rule.emptyMeans) value = rule.emptyMeans;
      if (value === "") continue;
      if (/^[a-z][a-z0-9+.-]*:\/\//.test(value) && !value.startsWith("file://")) continue; // s3:// etc.
      const p2 = value.startsWith("file://") ? value.slice("file://".length) : value;
      const where = `${ROLES[role].deployment}: ${key} = ${value}`;
      const found = mountFor(p.spec, p.container, p2);
      if (!found) {
        out.push(`${where}: no volumeMount covers it${rule.use === "write" ? " (the root file system is read-only)" : ""}`);
        continue;
      }
      const { mount, volume, rel } = found;
      if (!volume) {
        out.push(`${where}: volumeMount ${mount.name} names no volume of the pod`);
        continue;
      }
      if (rule.use === "read") {
        const files = volumeFiles(volume, r.objects, r.secrets);
        const file = files.get(rel);
        if (!file) {
          out.push(`${where}: the volume ${volume.name} mounted at ${mount.mountPath} has no file '${rel}' ` +
                   `(it has: ${[...files.keys()].join(", ") || "nothing"})`);
        } else if (file.kind === "Secret") {
          const known = r.secrets[file.name];
          if (known && !known.keys.includes(file.key)) {
            out.push(`${where}: comes from key '${file.key}' of Secret ${file.name}, which holds ${known.keys.join(", ")}`);
          }
        } else if (file.kind === "ConfigMap") {
          const cm = r.objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === file.name);
          if (!cm || !Object.hasOwn({ ...cm.data, ...cm.binaryData }, file.key)) out.push(`${where}: ConfigMap ${file.name} has no key ${file.key}`);
        }
      } else {
        if (mount.readOnly) out.push(`${where}: mounted read-only (${mount.name})`);
        if (volume.secret || volume.configMap || volume.projected || volume.downwardAPI) {
          out.push(`${where}: on the read-only volume ${volume.name}`);
        }
        if (rule.shared) {
          (claims[key] ??= {})[role] = volume.persistentVolumeClaim?.claimName ?? `(${Object.keys(volume).filter((k) => k !== "name").join(",")} ${volume.name})`;
          if (r.sharedState && !volume.persistentVolumeClaim) {
            out.push(`${where}: on volume ${volume.name}, which is not a PersistentVolumeClaim: every pod must reach the same checkpoints (or use s3://)`);
          }
        }
      }
    }
  }
  if (r.sharedState) {
    for (const [key, byRole] of Object.entries(claims)) {
      const values = new Set(Object.values(byRole));
      if (values.size > 1) out.push(`${key}: the pods mount different volumes (${JSON.stringify(byRole)}): they must share one`);
    }
  }
  // The --config file itself comes from the ConfigMap (checked when it was read).
  for (const role of Object.keys(ROLES)) if (r.configSourceErrors[role]) out.push(r.configSourceErrors[role]);
  return out;
}

// Secrets: none committed; each referenced one is documented, and only its keys are named.
function secretChecks(r, docText) {
  const out = [];
  for (const o of r.objects.filter((x) => x.kind === "Secret")) {
    out.push(`Secret ${o.metadata.name} is in the rendering: Secrets are made by documented commands, never committed`);
  }
  const used = new Map(); // name -> [where]
  const note = (name, where, key) => {
    if (!used.has(name)) used.set(name, []);
    used.get(name).push({ where, key });
  };
  for (const o of r.objects) {
    const spec = o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec;
    if (!spec) continue;
    for (const v of spec.volumes ?? []) {
      if (v.secret) {
        if (v.secret.items?.length) for (const it of v.secret.items) note(v.secret.secretName, `${ref(o)} volume ${v.name}`, it.key);
        else note(v.secret.secretName, `${ref(o)} volume ${v.name}`);
      }
      for (const s of v.projected?.sources ?? []) {
        if (s.secret) for (const it of s.secret.items ?? [{}]) note(s.secret.name, `${ref(o)} volume ${v.name}`, it.key);
      }
    }
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      for (const e of c.env ?? []) {
        if (e.valueFrom?.secretKeyRef) note(e.valueFrom.secretKeyRef.name, `${ref(o)} env ${e.name}`, e.valueFrom.secretKeyRef.key);
      }
      for (const e of c.envFrom ?? []) if (e.secretRef) note(e.secretRef.name, `${ref(o)} envFrom`);
    }
  }
  for (const [name, uses] of used) {
    const known = r.secrets[name];
    if (!known) {
      out.push(`Secret ${name} (used by ${uses[0].where}) is not one the test knows: add it to secretTable() and document how to create it`);
      continue;
    }
    for (const u of uses) {
      if (u.key !== undefined && !known.keys.includes(u.key)) {
        out.push(`${u.where}: key '${u.key}' of Secret ${name}, which holds ${known.keys.join(", ")}`);
      }
    }
    if (docText !== null && !new RegExp(`create secret generic ${name}\\b`).test(docText)) {
      out.push(`Secret ${name} is used but docs/deploy-kubernetes.md has no 'kubectl create secret generic ${name}' command`);
    }
  }
  return out;
}

// S3 credentials. In every rendering: no container (Deployments, Jobs, init containers) sets
// a static AWS key variable, directly or through envFrom of a ConfigMap of the rendering,
// and Eddy's configuration leaves s3.access-key / s3.secret-key empty. In the EKS
// rendering (and any other whose checkpoints or savepoints are on s3://): the Eddy pods
// run as a ServiceAccount of the rendering that carries the IRSA annotation.
function s3CredentialChecks(r) {
  const out = [];
  for (const o of r.objects) {
    const spec = o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec;
    if (!spec) continue;
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
      for (const e of c.env ?? []) {
        if (STATIC_AWS_ENV.includes(e.name)) {
          out.push(`${ref(o)} container ${c.name}: env ${e.name} is set: S3 credentials come from the ServiceAccount's IAM role (${IRSA_ANNOTATION}), not static keys`);
        }
      }
      for (const e of c.envFrom ?? []) {
        if (!e.configMapRef) continue;
        const cm = r.objects.find((x) => x.kind === "ConfigMap" && x.metadata.name === e.configMapRef.name);
        for (const k of Object.keys(cm?.data ?? {})) {
          if (STATIC_AWS_ENV.includes(`${e.prefix ?? ""}${k}`)) {
            out.push(`${ref(o)} container ${c.name}: envFrom ConfigMap ${cm.metadata.name} sets ${e.prefix ?? ""}${k}: S3 credentials come from the ServiceAccount's IAM role, not static keys`);
          }
        }
      }
    }
  }
  for (const [role, config] of Object.entries(r.configs ?? {})) {
    for (const key of STATIC_AWS_CONFIG_KEYS) {
      if (config[key]) out.push(`${key} is set in the ${role}'s configuration: S3 credentials come from the ServiceAccount's IAM role, not static keys`);
    }
  }
  const onS3 = r.name === "overlays/eks" || r.name.startsWith("overlays/eks ") ||
    Object.values(r.configs ?? {}).some((c) => ["state.checkpoints.dir", "state.savepoints.dir"].some((k) => String(c[k] ?? "").startsWith("s3://")));
  if (onS3) {
    for (const [role, p] of Object.entries(r.pods ?? {})) {
      const name = p.spec.serviceAccountName;
      const sa = name && r.objects.find((o) => o.kind === "ServiceAccount" && o.metadata.name === name);
      if (!sa) {
        out.push(`${ROLES[role].deployment}: its pods use no ServiceAccount of the rendering (${name ?? "none"}), so no IAM role for S3 (${IRSA_ANNOTATION})`);
      } else if (!sa.metadata.annotations?.[IRSA_ANNOTATION]) {
        out.push(`${ROLES[role].deployment}: its ServiceAccount ${name} has no ${IRSA_ANNOTATION} annotation: the pods get no IAM role for S3`);
      }
    }
  }
  return out;
}

function memoryChecks(r) {
  const out = [];
  const config = r.configs.taskmanager;
  const c = r.pods.taskmanager?.container;
  if (!config || !c) return out;
  const slots = Number(config["taskmanager.numberOfTaskSlots"]);
  const perSlot = eddyBytes(config["state.backend.rocksdb.memory.fixed-per-slot"]);
  const buffers = Number(config["taskmanager.network.buffers"]);
  if (config["state.backend.type"] !== "rocksdb") {
    out.push(`state.backend.type is ${config["state.backend.type"]}: keyed state on the heap is not bounded by the container's memory limit (use rocksdb)`);
  }
  if (!(perSlot > 0)) {
    out.push(`state.backend.rocksdb.memory.fixed-per-slot is ${config["state.backend.rocksdb.memory.fixed-per-slot"]}: RocksDB's memory must be bounded to fit the container's limit`);
  }
  const limit = quantityBytes(c.resources?.limits?.memory);
  if (limit === undefined) {
    out.push("TaskManager: no memory limit (resources.limits.memory)");
    return out;
  }
  const need = slots * (perSlot ?? 0) + buffers * NETWORK_BUFFER_BYTES + TASKMANAGER_PROCESS_MIB * 2 ** 20;
  if (need > limit) {
    out.push(`TaskManager memory limit ${c.resources.limits.memory} (${mib(limit)}) is below fixed-per-slot x slots + network buffers + ` +
             `${TASKMANAGER_PROCESS_MIB} MiB = ${mib(perSlot ?? 0)} x ${slots} + ${buffers} x 32 KiB + ${TASKMANAGER_PROCESS_MIB} MiB = ${mib(need)}`);
  }
  const request = quantityBytes(c.resources?.requests?.memory);
  if (request !== undefined && request < limit) {
    out.push(`TaskManager memory request ${c.resources.requests.memory} is below its limit ${c.resources.limits.memory}: it may be placed where the limit does not fit`);
  }
  return out;
}

function disruptionChecks(r) {
  const out = [];
  const pdbs = r.objects.filter((o) => o.kind === "PodDisruptionBudget");
  for (const [role, want] of [["jobmanager", null], ["taskmanager", 1]]) {
    const p = r.pods[role];
    if (!p) continue;
    const mine = pdbs.filter((b) => selects(b.spec.selector, p.labels));
    if (mine.length !== 1) {
      out.push(`${ROLES[role].deployment}: ${mine.length} PodDisruptionBudgets select its pods, expected 1`);
      continue;
    }
    if (want !== null && mine[0].spec.maxUnavailable !== want) {
      out.push(`PodDisruptionBudget ${mine[0].metadata.name}: maxUnavailable is ${mine[0].spec.maxUnavailable}, expected ${want}`);
    }
  }
  return out;
}

// An overlay's own eddy.yaml (configMapGenerator behavior: replace) must keep every key
// that base/eddy.yaml sets: a key added to the base and forgotten in an overlay fails.
function overlayConfigChecks(r, baseRaw) {
  if (!baseRaw || !r.rawConfig || r.name === "base") return [];
  let base;
  let mine;
  try {
    base = flatten(YAML.parse(baseRaw));
    mine = flatten(YAML.parse(r.rawConfig));
  } catch (e) {
    return [`eddy.yaml does not parse: ${e.message}`];
  }
  return Object.keys(base).filter((k) => !Object.hasOwn(mine, k))
    .map((k) => `eddy.yaml of this rendering does not set ${k}, which base/eddy.yaml sets`);
}

// The application Job against a cluster rendering with REST over HTTPS.
function applicationChecks(app, cluster, dir) {
  const out = [];
  const jobs = app.objects.filter((o) => o.kind === "Job");
  if (jobs.length === 0) return ["no Job in the rendering"];
  for (const job of jobs) {
    const spec = job.spec.template.spec;
    const c = spec.containers[0];
    const { argv, problems, env } = containerEnv(c);
    out.push(...problems.map((m) => `${ref(job)}: ${m}`));
    if (spec.restartPolicy !== "Never" || job.spec.backoffLimit !== 0) {
      out.push(`${ref(job)}: restartPolicy Never and backoffLimit 0 expected (a retry submits the job again)`);
    }
    const sc = { ...spec.securityContext, ...c.securityContext };
    if (sc.runAsNonRoot !== true || sc.runAsUser !== USER_ID || c.securityContext?.readOnlyRootFilesystem !== true) {
      out.push(`${ref(job)}: expected runAsNonRoot, runAsUser ${USER_ID}, readOnlyRootFilesystem`);
    }
    if (argv[0] !== "eddy" || argv[1] !== "run") {
      out.push(`${ref(job)}: command is not 'eddy run ...': ${JSON.stringify(argv)}`);
      continue;
    }
    const flag = (name) => {
      const i = argv.indexOf(name);
      return i > 0 && i + 1 < argv.length ? argv[i + 1] : undefined;
    };
    if (!argv.includes("--wait")) out.push(`${ref(job)}: 'eddy run' without --wait: the Job would not follow the Eddy job to its end`);
    const url = flag("--jobmanager");
    const cfg = cluster.configs.jobmanager;
    if (!url) out.push(`${ref(job)}: no --jobmanager URL`);
    else if (cfg && cluster.service) {
      let u = null;
      try {
        u = new URL(url);
      } catch {
        out.push(`${ref(job)}: --jobmanager ${url} is not a URL`);
      }
      if (u) {
        const https = cfg["security.ssl.rest.enabled"] === "true";
        const restPort = cluster.service.spec.ports.find((p) => p.name === "rest")?.port;
        const name = cluster.service.metadata.name;
        if (u.protocol !== (https ? "https:" : "http:")) out.push(`${ref(job)}: --jobmanager ${url}, but in ${cluster.name} security.ssl.rest.enabled is ${https}`);
        if (u.hostname !== name && !u.hostname.startsWith(`${name}.`)) out.push(`${ref(job)}: --jobmanager host ${u.hostname} is not the Service ${name} of ${cluster.name}`);
        if (Number(u.port || (u.protocol === "https:" ? 443 : 80)) !== restPort) out.push(`${ref(job)}: --jobmanager port ${u.port} is not the Service's rest port ${restPort} in ${cluster.name}`);
      }
    }
    const ca = flag("--ca-cert");
    if (!ca) out.push(`${ref(job)}: no --ca-cert (the REST certificate is signed by the cluster CA)`);
    else {
      const found = mountFor(spec, c, ca);
      const file = found?.volume ? volumeFiles(found.volume, app.objects, app.secrets).get(found.rel) : undefined;
      const trust = cluster.configs.jobmanager?.["security.ssl.internal.trust-cert"];
      if (!file) out.push(`${ref(job)}: --ca-cert ${ca} is not a mounted file`);
      else if (file.kind !== "Secret" || file.name !== "eddy-tls" || (trust && file.key !== path.posix.basename(trust))) {
        out.push(`${ref(job)}: --ca-cert ${ca} comes from ${file.kind} ${file.name} key ${file.key}, expected the cluster CA (eddy-tls ${trust && path.posix.basename(trust)})`);
      }
    }
    const tokenArg = flag("--token");
    const tokenEnv = c.env?.find((e) => e.name === "EDDY_TOKEN");
    if (!tokenEnv?.valueFrom?.secretKeyRef) out.push(`${ref(job)}: EDDY_TOKEN does not come from a Secret`);
    if (tokenArg !== undefined && tokenArg !== env.EDDY_TOKEN) out.push(`${ref(job)}: --token ${tokenArg} is not $(EDDY_TOKEN)`);
    // The library: after the options, before "--"; the Containerfile beside the manifests
    // copies it there into an image made FROM the Eddy image.
    const dash = argv.indexOf("--");
    const library = argv.slice(0, dash < 0 ? argv.length : dash).find((a) => a.endsWith(".so"));
    const containerfile = path.join(dir, "application/Containerfile");
    if (!library) out.push(`${ref(job)}: no job library (.so) in the command`);
    else if (!fs.existsSync(containerfile)) out.push("application/Containerfile is missing");
    else {
      const lines = fs.readFileSync(containerfile, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
      const from = lines.find((l) => /^FROM\s/i.test(l))?.split(/\s+/)[1];
      if (from !== `${IMAGE.name}:${IMAGE.tag}`) out.push(`application/Containerfile: FROM ${from}, expected ${IMAGE.name}:${IMAGE.tag}`);
      const copies = lines.filter((l) => /^COPY\s/i.test(l)).map((l) => l.split(/\s+/).slice(1));
      const ok = copies.some((args) => {
        const dest = args[args.length - 1];
        const srcs = args.slice(0, -1).map((s) => path.posix.basename(s));
        const target = dest.endsWith("/") ? path.posix.join(dest, path.posix.basename(library)) : dest;
        return target === library && srcs.includes(path.posix.basename(library));
      });
      if (!ok) out.push(`application/Containerfile copies no ${path.posix.basename(library)} to ${library}, which the Job runs`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// One tree

function analyse(rendering, objects, binDir, tmp, secrets) {
  const r = { name: rendering.name, objects, secrets, pods: {}, deployments: {}, configs: {}, configErrors: {},
              configSourceErrors: {}, sharedState: rendering.name.startsWith("overlays/") };
  for (const [role, spec] of Object.entries(ROLES)) {
    const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name === spec.deployment);
    if (!d) continue;
    r.deployments[role] = d;
    const podSpec = d.spec.template.spec;
    const container = podSpec.containers.find((c) => c.name === spec.container) ?? podSpec.containers[0];
    const { env, argv, problems } = containerEnv(container);
    r.pods[role] = { spec: podSpec, container, labels: d.spec.template.metadata?.labels ?? {},
                     annotations: d.spec.template.metadata?.annotations ?? {}, envProblems: problems };
    // The configuration file as the container sees it: --config, through the mounts, to a
    // ConfigMap key of the rendering.
    const i = argv.indexOf("--config");
    const file = i >= 0 ? argv[i + 1] : undefined;
    if (!file) {
      r.configErrors[role] = `${spec.deployment}: the command has no --config FILE`;
      continue;
    }
    const found = mountFor(podSpec, container, file);
    const source = found?.volume ? volumeFiles(found.volume, objects, secrets).get(found.rel) : undefined;
    const cm = source?.kind === "ConfigMap" && objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === source.name);
    const text = cm ? cm.data?.[source.key] : undefined;
    if (text === undefined) {
      r.configErrors[role] = `${spec.deployment}: --config ${file} is not a mounted ConfigMap key of the rendering`;
      continue;
    }
    if (role === "jobmanager") r.rawConfig = text;
    const got = printConfig(binDir, role, text, env.EDDY_PROPERTIES, tmp);
    if (got.error) r.configErrors[role] = got.error;
    else r.configs[role] = got.config;
  }
  r.service = objects.find((o) => o.kind === "Service" && o.spec?.type !== "LoadBalancer" && o.spec?.type !== "NodePort" &&
                                  r.pods.jobmanager && selects(o.spec.selector, r.pods.jobmanager.labels));
  return r;
}

// Validates the tree DIR; returns { failures: [{rendering, check, message}], passed }.
function validateTree(dir, binDir, log = () => {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "eddy-k8s-validate-"));
  const failures = [];
  let passed = 0;
  const record = (rendering, check, messages) => {
    if (messages.length === 0) passed++;
    for (const message of messages) failures.push({ rendering, check, message });
  };
  try {
    const secrets = secretTable();
    const docText = fs.existsSync(DOC) ? fs.readFileSync(DOC, "utf8") : null;
    if (docText === null) record("docs", "documentation", ["docs/deploy-kubernetes.md is missing"]);
    const renderings = discoverRenderings(dir);
    for (const want of ["base", "overlays/local", "overlays/eks", "application"]) {
      record("tree", "layout", renderings.some((x) => x.name === want) ? [] : [`${want}/kustomization.yaml is missing`]);
    }
    const analysed = [];
    let baseRaw = null;
    const baseCm = path.join(dir, "base/eddy.yaml");
    if (fs.existsSync(baseCm)) baseRaw = fs.readFileSync(baseCm, "utf8");
    for (const rendering of renderings) {
      const k = kustomize(dir, rendering, tmp);
      const renderProblems = [];
      if (k.error) renderProblems.push(`kubectl kustomize: ${k.error.message}`);
      else if (k.status !== 0) renderProblems.push(`kubectl kustomize failed (exit ${k.status}): ${k.stderr}`);
      else if (k.stderr) renderProblems.push(`kubectl kustomize printed on stderr (a warning is a failure): ${k.stderr}`);
      record(rendering.name, "render", renderProblems);
      if (k.status !== 0 || k.error) continue;
      const objects = [];
      const parseProblems = [];
      for (const doc of YAML.parseAllDocuments(k.stdout)) {
        if (doc.errors.length || doc.warnings.length) parseProblems.push(...[...doc.errors, ...doc.warnings].map((e) => e.message));
        const obj = doc.toJS();
        if (obj) objects.push(obj);
      }
      record(rendering.name, "yaml", parseProblems);
      const schema = [];
      for (const obj of objects) for (const e of schemaErrors(obj)) schema.push(`${ref(obj)}: ${e}`);
      if (objects.length === 0) schema.push("the rendering has no objects");
      record(rendering.name, "schema", schema);
      log(`rendered ${rendering.name}: ${objects.map(ref).join(", ")}`);

      if (objects.some((o) => o.kind === "Deployment" && Object.values(ROLES).some((x) => x.deployment === o.metadata.name))) {
        const r = analyse(rendering, objects, binDir, tmp, secrets);
        analysed.push(r);
        record(r.name, "print-config", configChecks(r));
        record(r.name, "container contract", contractChecks(r));
        record(r.name, "ports", portChecks(r));
        record(r.name, "addresses, TLS, probes", valueChecks(r));
        record(r.name, "mounted files and writable dirs", pathChecks(r));
        record(r.name, "secrets", secretChecks(r, docText));
        record(r.name, "S3 credentials", s3CredentialChecks(r));
        record(r.name, "memory", memoryChecks(r));
        record(r.name, "disruption budgets", disruptionChecks(r));
        record(r.name, "overlay eddy.yaml keys", overlayConfigChecks(r, baseRaw));
      } else if (objects.some((o) => o.kind === "Job")) {
        analysed.push({ name: rendering.name, objects, secrets, application: true });
        record(rendering.name, "secrets", secretChecks({ objects, secrets }, docText));
        record(rendering.name, "S3 credentials", s3CredentialChecks({ name: rendering.name, objects }));
      } else {
        record(rendering.name, "contents", [`renders neither the Eddy Deployments nor an application Job`]);
      }
    }
    // Each application Job against every overlay whose REST speaks HTTPS (what it needs).
    const apps = analysed.filter((a) => a.application);
    const clusters = analysed.filter((a) => !a.application && a.name.startsWith("overlays/") && a.configs.jobmanager?.["security.ssl.rest.enabled"] === "true");
    for (const app of apps) {
      if (clusters.length === 0) record(app.name, "application", ["no overlay with REST over HTTPS to run the application Job against"]);
      for (const cluster of clusters) record(`${app.name} on ${cluster.name}`, "application", applicationChecks(app, cluster, dir));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { failures, passed };
}

// ---------------------------------------------------------------------------------------
// Mutations: each must make the checks fail, with a message matching `expect`.

const MUTATIONS = [
  { name: "a renamed key in base/eddy.yaml", file: "base/eddy.yaml", from: "taskmanager.rpc.port: 6122", to: "taskmanager.rpc.prot: 6122", expect: /unknown config key 'taskmanager\.rpc\.prot'/ },
  { name: "rest.port changed in base/eddy.yaml only", file: "base/eddy.yaml", from: "rest.port: 8081", to: "rest.port: 8082", expect: /but rest\.port is 8082/ },
  { name: "the Service's rpc port changed", file: "base/jobmanager.yaml", from: "port: 6123", to: "port: 6124", expect: /Service eddy-jobmanager port "rpc" is 6124/ },
  { name: "the TaskManager's rpc containerPort changed", file: "base/taskmanager.yaml", from: "containerPort: 6122", to: "containerPort: 6124", expect: /TaskManager containerPort "rpc" is 6124/ },
  { name: "the JobManager's rest port renamed", file: "base/jobmanager.yaml", from: "- name: rest\n              containerPort: 8081", to: "- name: http\n              containerPort: 8081", expect: /does not resolve to a container port/ },
  { name: "the prometheus.io/port annotation changed", file: "base/jobmanager.yaml", from: 'prometheus.io/port: "8081"', to: 'prometheus.io/port: "9249"', expect: /prometheus\.io\/port is 9249/ },
  { name: "a Secret item renamed", file: "base/taskmanager.yaml", from: "path: member-key.pem", to: "path: member.key", expect: /has no file 'member-key\.pem'/ },
  { name: "a Secret key that make-cluster-certs.sh does not make", file: "base/jobmanager.yaml", from: "- key: ca.pem", to: "- key: cluster-ca.pem", expect: /key 'cluster-ca\.pem' of Secret eddy-tls/ },
  { name: "the tokens volume not mounted", file: "base/jobmanager.yaml", from: "mountPath: /etc/eddy/auth", to: "mountPath: /etc/eddy/tokens", expect: /rest\.auth\.tokens-file = \/etc\/eddy\/auth\/tokens: the volume config/ },
  { name: "a writable directory moved off its volume", file: "base/eddy.yaml", from: "taskmanager.tmp.dir: /var/lib/eddy/tmp", to: "taskmanager.tmp.dir: /opt/eddy/tmp", expect: /taskmanager\.tmp\.dir = \/opt\/eddy\/tmp: no volumeMount/ },
  { name: "POD_IP misspelt in EDDY_PROPERTIES", file: "base/taskmanager.yaml", from: "taskmanager.host: $(POD_IP)", to: "taskmanager.host: $(POD_ADDR)", expect: /\$\(POD_ADDR\), which is not defined/ },
  { name: "the TaskManagers pointed at another address", file: "base/eddy.yaml", from: "jobmanager.rpc.address: eddy-jobmanager", to: "jobmanager.rpc.address: jobmanager", expect: /expected the Service's name 'eddy-jobmanager'/ },
  { name: "the JobManager's bind address left to the Service name", file: "base/jobmanager.yaml", from: "jobmanager.rpc.address: 0.0.0.0", to: "log.level: info", expect: /expected an IP address beyond loopback/ },
  { name: "internal TLS off", file: "base/eddy.yaml", from: "security.ssl.internal.enabled: true", to: "security.ssl.internal.enabled: false", expect: /internal TLS \(required beyond loopback\)/ },
  { name: "REST TLS off on EKS (probes and the application still say HTTPS)", file: "overlays/eks/eddy.yaml", from: "security.ssl.rest.enabled: true", to: "security.ssl.rest.enabled: false", expect: /scheme HTTPS, but security\.ssl\.rest\.enabled is false/ },
  { name: "EKS TaskManager memory limit below the configured memory", file: "overlays/eks/taskmanager-resources.yaml", from: "limits:\n              memory: 3Gi", to: "limits:\n              memory: 2Gi", expect: /memory limit 2Gi/ },
  { name: "the ServiceAccount renamed", file: "base/serviceaccount.yaml", from: "name: eddy\n", to: "name: eddy-sa\n", expect: /serviceAccountName eddy is not a ServiceAccount/ },
  { name: "a static AWS key in a TaskManager's env", file: "base/taskmanager.yaml", from: "            - name: EDDY_PROPERTIES\n", to: "            - name: AWS_ACCESS_KEY_ID\n              value: AKIAEXAMPLE\n            - name: EDDY_PROPERTIES\n", expect: /env AWS_ACCESS_KEY_ID is set/ },
  { name: "the IRSA annotation removed from the ServiceAccount", file: "base/serviceaccount.yaml", from: "  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/eddy-s3\n", to: "", expect: /ServiceAccount eddy has no eks\.amazonaws\.com\/role-arn annotation: the pods get no IAM role/ },
  { name: "a key of base/eddy.yaml missing in the EKS eddy.yaml", file: "overlays/eks/eddy.yaml", from: "heartbeat.timeout: 10s\n", to: "", expect: /does not set heartbeat\.timeout/ },
  { name: "a schema violation", file: "base/taskmanager.yaml", from: "replicas: 2", to: 'replicas: "two"', expect: /spec\/replicas must be integer/ },
  { name: "a deprecated kustomize field (a warning)", file: "base/kustomization.yaml", from: "resources:\n", to: "commonLabels:\n  a: b\nresources:\n", expect: /kubectl kustomize (printed on stderr|failed)/ },
  { name: "the application Job on the wrong port", file: "application/word-count-job.yaml", from: "https://eddy-jobmanager:8081", to: "https://eddy-jobmanager:8082", expect: /--jobmanager port 8082 is not the Service's rest port 8081/ },
  { name: "the Containerfile copies the library elsewhere", file: "application/Containerfile", from: "COPY word_count.so /opt/eddy/jobs/", to: "COPY word_count.so /opt/eddy/", expect: /copies no word_count\.so to \/opt\/eddy\/jobs\/word_count\.so/ },
  { name: "the image contract's command changed", file: "base/jobmanager.yaml", from: 'command: ["eddy-jobmanager", "--config", "/etc/eddy/eddy.yaml"]', to: 'command: ["/usr/local/bin/eddy-jobmanager", "--config", "/etc/eddy/eddy.yaml"]', expect: /the image contract says/ },
];

function runMutations(dir, binDir) {
  let ok = 0;
  const bad = [];
  for (const m of MUTATIONS) {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "eddy-k8s-mutation-"));
    try {
      fs.cpSync(dir, copy, { recursive: true });
      const file = path.join(copy, m.file);
      const text = fs.readFileSync(file, "utf8");
      if (!text.includes(m.from)) {
        bad.push(`${m.name}: '${m.from}' is not in ${m.file} any more: update the mutation`);
        continue;
      }
      fs.writeFileSync(file, text.replace(m.from, m.to));
      const { failures } = validateTree(copy, binDir);
      const hit = failures.find((f) => m.expect.test(f.message));
      if (hit) {
        ok++;
        console.log(`mutation caught: ${m.name}\n    -> FAIL [${hit.rendering}] ${hit.check}: ${hit.message}`);
      } else if (failures.length) {
        bad.push(`${m.name}: failed, but not with ${m.expect} (got: ${failures.map((f) => f.message).join(" | ")})`);
      } else {
        bad.push(`${m.name}: NOT caught: every check still passes`);
      }
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }
  for (const b of bad) console.log(`MUTATION FAIL ${b}`);
  return { ok, bad: bad.length };
}

// ---------------------------------------------------------------------------------------

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(opts.dir, "base/kustomization.yaml"))) usage(`${opts.dir} has no base/kustomization.yaml`);
  loadDependencies(opts.binDir);
  const { failures, passed } = validateTree(opts.dir, opts.binDir, (line) => console.log(line));
  for (const f of failures) console.log(`FAIL [${f.rendering}] ${f.check}: ${f.message}`);
  const failedChecks = new Set(failures.map((f) => `${f.rendering}\u0000${f.check}`)).size;
  console.log(`kubernetes manifests (${path.relative(process.cwd(), opts.dir) || "."}): ${passed} passed, ${failedChecks} failed`);
  if (failures.length) process.exit(1);
  if (opts.mutations) {
    const { ok, bad } = runMutations(opts.dir, opts.binDir);
    console.log(`mutations: ${ok} passed, ${bad} failed`);
    if (bad) process.exit(1);
  }
}

main();
