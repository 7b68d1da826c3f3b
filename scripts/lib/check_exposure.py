"""What the rendered manifests expose to the outside: one Ingress, for V2's
public API only, and an ingress controller that may reach V2 and nothing
else. Exits 1 naming what breaks that."""

import sys

import yaml


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = []
    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    if len(ingresses) != 1:
        problems.append(f"expected one Ingress, found {len(ingresses)}")
    for ingress in ingresses:
        name = ingress["metadata"]["name"]
        if not ingress["spec"].get("tls"):
            problems.append(f"Ingress {name} serves without TLS")
        for rule in ingress["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]["name"]
                if service != "trizone-stable" or path["path"] != "/api/v2/":
                    problems.append(
                        f"Ingress {name} routes {path['path']} to {service}: only /api/v2/ of trizone-stable is public"
                    )
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            sources = rule.get("from", [])
            from_controller = any(
                s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                == "ingress-nginx"
                for s in sources
            )
            if not from_controller:
                continue
            selected = policy["spec"]["podSelector"].get("matchLabels", {})
            ports = sorted(p["port"] for p in rule.get("ports", []))
            if selected != {"app.kubernetes.io/name": "trizone-stable"} or ports != [8082]:
                problems.append(
                    f"NetworkPolicy {policy['metadata']['name']} lets the ingress controller reach "
                    f"{selected or 'every pod'} on {ports or 'every port'}: only V2's 8082"
                )
    for problem in problems:
        print(f"exposure: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
