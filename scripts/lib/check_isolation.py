"""What the rendered manifests let reach what, beyond exposure: egress
rules name where they go, the gate's API admits Prometheus alone, what
holds the database owner's password lives apart from the end users'
namespace, and every connection to PostgreSQL verifies its certificate.
Exits 1 naming each break."""

import sys
from urllib.parse import parse_qs, urlparse

import yaml

# The namespace whose pods end users reach (it holds the Ingress's backend).
PUBLIC = "platform-v2-stable"
# Where the database, its owner's secret and the backups live.
DATA = "platform-data"
GATE_PORT = 8084
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
# The console calls the gate with the signed-in person's token.
CONSOLE = ("platform-console", {"app.kubernetes.io/name": "trizone-console"})


def labels(selector):
    return (selector or {}).get("matchLabels", {})


def selects_gate(policy):
    selector = policy["spec"].get("podSelector", {})
    if not selector:
        return True
    names = set(labels(selector).values())
    for expression in selector.get("matchExpressions", []):
        names.update(expression.get("values", []))
    return "trizone-gate" in names


def egress_without_destination(policy):
    """Egress rules with ports but no `to`: any host on those ports."""
    return [
        rule
        for rule in policy["spec"].get("egress", [])
        if rule.get("ports") and not rule.get("to")
    ]


def gate_sources(policy):
    """Sources allowed to the gate's port other than Prometheus' pods."""
    loose = []
    for rule in policy["spec"].get("ingress", []):
        ports = [p.get("port") for p in rule.get("ports", [])]
        if ports and GATE_PORT not in ports:
            continue
        for source in rule.get("from", [{}]):
            pods = labels(source.get("podSelector"))
            namespace = labels(source.get("namespaceSelector")).get("kubernetes.io/metadata.name")
            prometheus = pods == PROMETHEUS and "namespaceSelector" in source
            console = (namespace, pods) == CONSOLE
            if not (prometheus or console):
                loose.append(source or "anywhere")
    return loose


def containers(doc):
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template", {}).get("spec", {})
    return template, template.get("containers", []) + template.get("initContainers", [])


def database_tls_problems(name, container):
    env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
    problems = []
    for key, value in env.items():
        if value.startswith("postgres://") or value.startswith("postgresql://"):
            query = parse_qs(urlparse(value).query)
            if query.get("sslmode") != ["verify-full"] or not query.get("sslrootcert"):
                problems.append(
                    f"{name}: {key} must use sslmode=verify-full with sslrootcert (the operator's CA)"
                )
    if "PGSSLMODE" in env and (env["PGSSLMODE"] != "verify-full" or "PGSSLROOTCERT" not in env):
        problems.append(f"{name}: PGSSLMODE must be verify-full, with PGSSLROOTCERT")
    return problems


def main(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = []
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        name = f"NetworkPolicy {policy['metadata']['namespace']}/{policy['metadata']['name']}"
        for rule in egress_without_destination(policy):
            ports = [p.get("port") for p in rule["ports"]]
            problems.append(f"{name} allows egress on {ports} to any host: name the destination with `to`")
        if policy["metadata"]["namespace"] == PUBLIC and selects_gate(policy):
            for source in gate_sources(policy):
                problems.append(
                    f"{name} lets {source} reach the gate's port {GATE_PORT}: only Prometheus' pods and the console may"
                )
    for doc in docs:
        namespace = doc.get("metadata", {}).get("namespace")
        name = f"{doc['kind']} {namespace}/{doc['metadata']['name']}"
        if doc["kind"] == "PersistentVolumeClaim" and namespace != DATA:
            problems.append(f"{name}: backups belong in {DATA}, not beside the zones")
        if doc["kind"] not in ("Deployment", "Job", "CronJob", "StatefulSet"):
            continue
        template, all_containers = containers(doc)
        secrets = {
            v["secret"]["secretName"] for v in template.get("volumes", []) if "secret" in v
        }
        if "trizone-owner-database" in secrets and namespace != DATA:
            problems.append(f"{name} mounts the database owner's password outside {DATA}")
        for container in all_containers:
            problems.extend(database_tls_problems(name, container))
    for problem in problems:
        print(f"isolation: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
