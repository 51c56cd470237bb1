#!/usr/bin/env bash
# The main job on the local default, end to end: set-up (idempotent); the local federation (host cluster
# `federation`, three members named after the seed article's regions, a local BIND); the CRDs and the
# members registered; the operator running; the seed article's nginx FederatedService applied and backends
# started in every member; then what `kubectl get` and `kubectl describe` show.
# Everything keeps running afterwards; stop it all with: hack/local-federation down
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash hack/setup.sh
hack/local-federation up "$@"
hack/local-federation register
hack/local-federation operator start
export KUBECONFIG="$root/.localfed/kubeconfig"

echo; echo "+ kubectl --context federation get memberclusters"
for _ in $(seq 1 60); do
  ready=$(kubectl --context federation get mc -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true)
  [[ "$ready" -ge 3 ]] && break
  sleep 1
done
kubectl --context federation get mc

echo; echo "+ kubectl --context federation apply -f examples/nginx.yaml"
kubectl --context federation apply -f examples/nginx.yaml
members=$(kubectl --context federation get mc -o jsonpath='{.items[*].metadata.name}')
echo; echo "+ backends, as in the seed article: kubectl --context \$CLUSTER run nginx ..."
for cluster in $members; do
  # The operator creates the namespace in each member; Pods are admitted once its ServiceAccount exists.
  for _ in $(seq 1 30); do
    kubectl --context "$cluster" -n mynamespace get serviceaccount default >/dev/null 2>&1 && break
    sleep 1
  done
  kubectl --context "$cluster" -n mynamespace get pod nginx >/dev/null 2>&1 ||
    kubectl --context "$cluster" -n mynamespace run nginx --image=nginx:1.11.1-alpine --port=80 \
      --labels=run=nginx >/dev/null
done
kubectl --context federation -n mynamespace wait fsvc/nginx --for=condition=Healthy --timeout=60s >/dev/null
kubectl --context federation -n mynamespace wait fsvc/nginx --for=condition=Ready --timeout=60s >/dev/null

echo; echo "+ kubectl --context federation get fsvc -n mynamespace"
kubectl --context federation get fsvc -n mynamespace
echo; echo "+ kubectl --context federation describe fsvc nginx -n mynamespace"
kubectl --context federation describe fsvc nginx -n mynamespace
dns_port=$(.venv/bin/python -c "import json; print(json.load(open('.localfed/state.json'))['dns']['port'])")
# fedctl is installed in .venv/bin as kubectl-fed too, which makes it the kubectl plugin `kubectl fed`.
echo; echo "+ kubectl fed status -n mynamespace --host-context federation --resolve 127.0.0.1:$dns_port"
PATH="$root/.venv/bin:$PATH" kubectl fed status -n mynamespace --host-context federation \
  --resolve "127.0.0.1:$dns_port"
stem=nginx.mynamespace.myfederation.svc
echo; echo "+ DNS answers from the local BIND (127.0.0.1:$dns_port), global, region and zone tiers:"
for tier in "" $(kubectl --context federation get mc -o jsonpath='{range .items[*]}{.spec.region} {.status.zones[*]} {end}'); do
  name="$stem.${tier:+$tier.}example.com"
  echo "\$ dig +noall +answer @127.0.0.1 -p $dns_port $name"
  dig +noall +answer @127.0.0.1 -p "$dns_port" "$name"
done
# BIND answers without recursion, so it does not follow a CNAME into its other zone; a resolver does, and
# the target's answer is printed after it.
echo; echo "+ The aliases (spec.dns.aliases) in the second zone, acme.com, each a CNAME to its tier:"
for name in nginx.acme.com eu.nginx.acme.com; do
  echo "\$ dig +noall +answer @127.0.0.1 -p $dns_port $name"
  answer=$(dig +noall +answer @127.0.0.1 -p "$dns_port" "$name")
  echo "$answer"
  target=$(awk '$4 == "CNAME" {print $5; exit}' <<<"$answer")
  if [[ -n "$target" ]]; then dig +noall +answer @127.0.0.1 -p "$dns_port" "$target"; fi
done

# In-cluster discovery (#11): a Pod in gce-us-central1 asks its cluster DNS (the member's CoreDNS) for
# nginx.mynamespace.myfederation; its search path makes that the .svc.cluster.local name asked below.
member=gce-us-central1
member_dns=$(.venv/bin/python -c "import json; print(next(c['dns']['dns'] for c in json.load(open('.localfed/state.json'))['clusters'] if c['name'] == '$member'))")
pod_name=nginx.mynamespace.myfederation.svc.cluster.local
echo; echo "+ kubectl fed discovery enable $member --host-context federation"
PATH="$root/.venv/bin:$PATH" kubectl fed discovery enable "$member" --host-context federation
ask_member() { dig +noall +answer @127.0.0.1 -p "$member_dns" "$pod_name"; }
wait_member() { # until the member's answer mentions $1 (CoreDNS reloads its Corefile within seconds)
  for _ in $(seq 1 100); do ask_member | grep -q "$1" && return 0; sleep 0.1; done
}
echo; echo "+ from a Pod in $member (its CoreDNS, 127.0.0.1:$member_dns), its shard healthy: its own ClusterIP"
wait_member "nginx.mynamespace.svc.cluster.local"
echo "\$ dig +noall +answer @127.0.0.1 -p $member_dns $pod_name"
ask_member
echo; echo "+ hack/local-federation backends $member run=nginx -n mynamespace --ready false"
hack/local-federation backends "$member" run=nginx -n mynamespace --ready false
wait_member "example.com"
echo "+ the same lookup now: a CNAME to the zone name, which the public tiers chain to a healthy region"
echo "\$ dig +noall +answer @127.0.0.1 -p $member_dns $pod_name"
ask_member
hack/local-federation backends "$member" run=nginx -n mynamespace --ready true >/dev/null
wait_member "nginx.mynamespace.svc.cluster.local"
echo "+ backends Ready again: local again (kubectl fed discovery disable $member restores its Corefile)"

echo
echo "The operator keeps running (log: .localfed/operator.log). Try: hack/local-federation backends gce-asia-east1 run=nginx -n mynamespace --ready false"
echo "Stop everything with: hack/local-federation down"
