"""Where the rendered manifests let provider keys go. Exits 1 naming what
breaks one of these:

- a pod holds provider keys (the trizone-provider-keys Secret) only with the
  operator's list (TRIZONE_PROVIDERS_FILE from the trizone-providers
  ConfigMap), and no container takes a key from an environment variable;
- each list names providers by valid names, speaks a known API, and sends
  keys over HTTPS, or over HTTP only to a host inside the cluster; each
  key file lies in the mounted Secret;
- V2 lists every provider V1 offers, and every model V1 lists for it (or
  takes any model where V1 does), so nothing that passes the gate is
  unservable; each list of models is non-empty; and each provider both
  list speaks the same API with the same structured_output, so V2 asks a
  model the way V1 evaluated it;
- only the `providers` policies let pods reach addresses outside the
  cluster on 443, and only the pods holding keys (the gate's Kubernetes API
  rule aside: the gate holds no provider key).
"""

import re
import sys
from urllib.parse import urlsplit

import yaml

KEYS_SECRET = "trizone-provider-keys"
LIST_CONFIGMAP = "trizone-providers"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
APIS = {"openai", "anthropic"}
ZONES = {"platform-v1-exp": "V1", "platform-v2-stable": "V2"}


def pod_spec(doc):
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = []

    lists = {}
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith(LIST_CONFIGMAP):
            namespace = doc["metadata"]["namespace"]
            listed = yaml.safe_load(doc["data"]["providers.yaml"])["providers"]
            lists[namespace] = listed
            for provider in listed:
                where = f"{namespace} provider {provider.get('name')!r}"
                if not NAME.match(str(provider.get("name", ""))):
                    problems.append(f"{where}: not a provider name")
                if provider.get("api") not in APIS:
                    problems.append(f"{where}: api must be one of {sorted(APIS)}")
                url = urlsplit(str(provider.get("base_url", "")))
                internal = (url.hostname or "").endswith((".svc", ".svc.cluster.local"))
                if url.scheme != "https" and not (url.scheme == "http" and internal):
                    problems.append(f"{where}: its key would cross the network in clear text ({provider.get('base_url')})")
                if url.username or url.password:
                    problems.append(f"{where}: base_url carries credentials")
                if "models" in provider and not (isinstance(provider["models"], list) and provider["models"]):
                    problems.append(f"{where}: models must be a non-empty list (leave it out to take any model)")
                if not str(provider.get("key_file", "")).startswith("/var/run/secrets/trizone/providers/"):
                    problems.append(f"{where}: key_file is not in the mounted {KEYS_SECRET} Secret")

    holders = {}  # namespace -> app names of the pods holding keys
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        namespace, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
        volumes = spec.get("volumes", [])
        has_keys = any(v.get("secret", {}).get("secretName") == KEYS_SECRET for v in volumes)
        has_list = any(v.get("configMap", {}).get("name", "").startswith(LIST_CONFIGMAP) for v in volumes)
        for container in spec.get("containers", []):
            env = {e["name"] for e in container.get("env", [])}
            for variable in sorted(env & {"OPENAI_API_KEY", "OPENAI_API_KEY_FILE", "ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY_FILE"}):
                problems.append(f"{name} takes a provider key from {variable}: list providers in {LIST_CONFIGMAP} instead")
            if has_keys and not (has_list and "TRIZONE_PROVIDERS_FILE" in env):
                problems.append(f"{name} holds provider keys without the operator's list (TRIZONE_PROVIDERS_FILE from {LIST_CONFIGMAP})")
        if has_keys:
            labels = doc["spec"]["template"]["metadata"]["labels"]
            holders.setdefault(namespace, set()).add(labels.get("app.kubernetes.io/name"))

    for namespace, zone in ZONES.items():
        if namespace not in lists:
            problems.append(f"{zone} ({namespace}) has no {LIST_CONFIGMAP} ConfigMap")
    if all(n in lists for n in ZONES):
        offered = {p["name"] for p in lists["platform-v1-exp"]}
        served = {p["name"] for p in lists["platform-v2-stable"]}
        for missing in sorted(offered - served):
            problems.append(f"V1 offers provider {missing!r} that V2 does not list: what passes the gate could not be served")
        v2_models = {p["name"]: p.get("models") for p in lists["platform-v2-stable"]}
        v2_ways = {p["name"]: (p.get("api"), p.get("structured_output", True)) for p in lists["platform-v2-stable"]}
        for provider in lists["platform-v1-exp"]:
            way = (provider.get("api"), provider.get("structured_output", True))
            if provider["name"] in v2_ways and v2_ways[provider["name"]] != way:
                problems.append(f"{provider['name']!r} is asked as (api, structured_output) {way} in V1 but {v2_ways[provider['name']]} in V2: V2 would not serve what V1 evaluated")
        for provider in lists["platform-v1-exp"]:
            name, models = provider["name"], provider.get("models")
            if name not in v2_models or v2_models[name] is None:
                continue
            if models is None:
                problems.append(f"V1 takes any model of {name!r} while V2 lists {v2_models[name]}: what passes the gate could not be served")
            else:
                for model in sorted(set(models) - set(v2_models[name])):
                    problems.append(f"V1 offers model {model!r} of {name!r} that V2 does not list: what passes the gate could not be served")

    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        name, namespace = policy["metadata"]["name"], policy["metadata"]["namespace"]
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"].get("egress", []):
            ports = {p.get("port") for p in rule.get("ports", [])}
            outside = "to" not in rule or any("ipBlock" in peer for peer in rule["to"])
            if not (outside and (not ports or 443 in ports)):
                continue
            if name == "gate-kubernetes-api" and selected == "trizone-gate":
                continue
            if name != "providers":
                problems.append(f"NetworkPolicy {namespace}/{name} reaches outside the cluster on 443: only `providers` may")
            elif selected not in holders.get(namespace, set()):
                problems.append(f"NetworkPolicy {namespace}/{name} lets {selected or 'every pod'} reach the providers without holding their keys")

    for problem in problems:
        print(f"providers: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
