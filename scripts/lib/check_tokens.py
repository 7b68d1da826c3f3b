"""Which API keys and tokens each zone's pods hold. Exits 1 naming what
breaks one of these:

- each zone mounts the key hashes of its own Secret (trizone-<zone>-api-keys)
  and no other zone's, so the internet-facing V2 pod holds no hash of an
  experimenter's or another zone's key;
- no container takes keys or tokens from an inline environment variable;
- a zone-to-zone token is mounted only in the zone that sends it: V1's token
  for V3 (trizone-v3-token) in V1, the gate's token for V2
  (trizone-v2-token) in the gate;
- every zone hashes keys under the platform's secret (trizone-api-key-secret,
  named by TRIZONE_API_KEY_SECRET_FILE): without it, key hashes and the key
  ids shown in records are plain SHA-256, searchable offline.
"""

import sys

import yaml

BINARIES = {
    "trizone-experiment": ("v1", {"trizone-v3-token"}),
    "trizone-stable": ("v2", set()),
    "trizone-quarantine": ("v3", set()),
    "trizone-gate": ("gate", {"trizone-v2-token"}),
}
TOKENS = {"trizone-v3-token", "trizone-v2-token"}
INLINE = {"TRIZONE_API_KEYS", "TRIZONE_V1_V3_TOKEN", "TRIZONE_GATE_V2_TOKEN", "TRIZONE_API_KEY_SECRET"}
KEY_SECRET = "trizone-api-key-secret"


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = []
    seen = set()
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        spec = doc["spec"]["template"]["spec"]
        name = f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"
        binaries = {
            c.get("command", [""])[0].rsplit("/", 1)[-1] for c in spec["containers"]
        } & BINARIES.keys()
        if not binaries:
            continue
        (binary,) = binaries
        zone, sends = BINARIES[binary]
        seen.add(zone)
        secrets = {
            v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v
        }
        own = f"trizone-{zone}-api-keys"
        if own not in secrets:
            problems.append(f"{name}: does not mount its keys, {own}")
        uses_secret = any(
            env["name"] == "TRIZONE_API_KEY_SECRET_FILE"
            for container in spec["containers"]
            for env in container.get("env", [])
        )
        if KEY_SECRET not in secrets or not uses_secret:
            problems.append(
                f"{name}: does not hash keys under {KEY_SECRET} (mounted, named by TRIZONE_API_KEY_SECRET_FILE)"
            )
        for secret in sorted(secrets):
            if secret.endswith("-api-keys") and secret != own:
                problems.append(f"{name}: mounts {secret}, another zone's keys")
            if secret in TOKENS and secret not in sends:
                problems.append(f"{name}: mounts {secret}, a token it never sends")
        for container in spec["containers"]:
            for env in container.get("env", []):
                if env["name"] in INLINE:
                    problems.append(f"{name}: takes {env['name']} from the environment; mount it as a file")
    for zone in sorted({z for z, _ in BINARIES.values()} - seen):
        problems.append(f"no Deployment runs the {zone} zone")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
