#!/usr/bin/python3
"""Checks of deploy/ec2 that `cloud-init schema` does not make (run by cloud_init_test.sh
with the system's python3, which has cloud-init's modules and PyYAML):

  check_user_data.py user-data FILE CONFIG_MD   every top-level key is one cloud-init knows
      (its schema accepts unknown ones silently: a misspelled `runcmd:` would do nothing);
      `runcmd` runs only files that write_files writes; each write_files script (#!/bin/sh)
      passes `sh -n`; the eddy.yaml it writes passes the `config` check below.
  check_user_data.py config FILE CONFIG_MD      an Eddy YAML file: flat or nested keys, each
      one documented in docs/configuration.md, none twice, no lists.
  check_user_data.py extract FILE PATH          prints the content write_files writes to PATH.

Exit code 0: fine; 1: a problem, named on stderr.
"""
import re
import subprocess
import sys
import tempfile

import yaml


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def documented_keys(config_md):
    keys = set()
    with open(config_md) as f:
        for line in f:
            m = re.match(r"^\| `([A-Za-z0-9][A-Za-z0-9._-]*)` \|", line)
            if m:
                keys.add(m.group(1))
    if len(keys) < 20:
        fail(f"found only {len(keys)} keys in the tables of {config_md}")
    return keys


class UniqueKeyLoader(yaml.SafeLoader):
    pass


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def check_config(text, name, keys):
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as e:
        fail(f"{name}: not valid YAML: {e}")
    if not isinstance(data, dict):
        fail(f"{name}: not a mapping")
    flat = {}

    def flatten(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                flatten(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            fail(f"{name}: '{prefix}' is a list")
        else:
            if prefix in flat:
                fail(f"{name}: key '{prefix}' set twice")
            flat[prefix] = value

    flatten("", data)
    unknown = sorted(k for k in flat if k not in keys)
    if unknown:
        fail(f"{name}: keys not in docs/configuration.md: {', '.join(unknown)}")
    return flat


def write_files(data):
    return {entry["path"]: entry.get("content", "") for entry in data.get("write_files", [])}


def schema_properties():
    from cloudinit.config.schema import get_schema

    schema = get_schema()
    props = set()

    def walk(node):
        for k in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(k, []):
                walk(sub)
        if "$ref" in node:
            walk(schema["$defs"][node["$ref"].split("/")[-1]])
        props.update(node.get("properties", {}).keys())

    walk(schema)
    if len(props) < 20:
        fail(f"cloud-init's schema lists only {len(props)} keys")
    return props


def check_user_data(path, keys):
    with open(path) as f:
        text = f.read()
    if not text.startswith("#cloud-config\n"):
        fail(f"{path}: the first line is not #cloud-config")
    data = yaml.load(text, Loader=UniqueKeyLoader)
    known = schema_properties()
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        fail(f"{path}: top-level keys cloud-init does not know: {', '.join(unknown)}")
    files = write_files(data)
    if "/etc/eddy/eddy.yaml" not in files:
        fail(f"{path}: writes no /etc/eddy/eddy.yaml")
    flat = check_config(files["/etc/eddy/eddy.yaml"], f"{path}: /etc/eddy/eddy.yaml", keys)
    for key in ("jobmanager.rpc.address", "jobmanager.rpc.port"):
        if key not in flat:
            fail(f"{path}: /etc/eddy/eddy.yaml does not set {key}")
    commands = data.get("runcmd") or []
    if not commands:
        fail(f"{path}: no runcmd")
    for command in commands:
        program = command[0] if isinstance(command, list) else str(command).split()[0]
        if program.startswith("/usr/local/") and program not in files:
            fail(f"{path}: runcmd runs {program}, which write_files does not write")
    scripts = 0
    for file_path, content in files.items():
        if content.startswith("#!/bin/sh"):
            with tempfile.NamedTemporaryFile("w", suffix=".sh") as script:
                script.write(content)
                script.flush()
                result = subprocess.run(["sh", "-n", script.name], capture_output=True, text=True)
            if result.returncode != 0:
                fail(f"{path}: {file_path} is not valid sh: {result.stderr.strip()}")
            if "systemctl enable --now" not in content:
                fail(f"{path}: {file_path} does not enable and start a unit")
            scripts += 1
    if scripts == 0:
        fail(f"{path}: no #!/bin/sh script in write_files")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("user-data", "config", "extract"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    mode, path, arg = sys.argv[1:]
    if mode == "extract":
        with open(path) as f:
            files = write_files(yaml.safe_load(f))
        if arg not in files:
            fail(f"{path} writes no {arg}")
        sys.stdout.write(files[arg])
        return
    keys = documented_keys(arg)
    if mode == "config":
        with open(path) as f:
            check_config(f.read(), path, keys)
    else:
        check_user_data(path, keys)


if __name__ == "__main__":
    main()
