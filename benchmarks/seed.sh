#!/usr/bin/env bash
# The seed procedure (the five `kubectl get | jq | sed | kubectl create` pipelines of
# "Integrate Run:ai with ClearML"), kept as written, for benchmarks/run.py to time.
#
# Changes to the seed, and only these:
#   - the final `| kubectl create -f -` of each pipeline is left out: the objects go to stdout;
#   - the hard-coded ClearML namespace `clearml` and Run:ai namespace `runai-clearml` are parameters
#     (the seed says "change the script accordingly"), so the benchmark can use its own namespaces;
#   - in `files` mode `kubectl get KIND -n NS NAME -ojson` is replaced by reading a JSON file that
#     holds what it would print (one file per object, named <kind>-<name>.json);
#   - `set -euo pipefail`, so that a failing step fails the run instead of printing nothing.
#
# usage: seed.sh files DIR CLEARML_NS PROJECT    read DIR/<kind>-<name>.json
#        seed.sh live CLEARML_NS PROJECT          kubectl get (binary: $KUBECTL, default kubectl)
set -euo pipefail

mode="${1:?usage: seed.sh files DIR CLEARML_NS PROJECT | seed.sh live CLEARML_NS PROJECT}"
shift
case "$mode" in
files) dir="$1"; ns="$2"; project="$3" ;;
live) ns="$1"; project="$2"; kubectl="${KUBECTL:-kubectl}" ;;
*) echo "seed.sh: unknown mode $mode" >&2; exit 2 ;;
esac
target="runai-$project"   # the Run:ai namespace, runai-clearml in the seed; also the queue name there

get() {  # get KIND NAME: what `kubectl get KIND -n $ns NAME -ojson` prints
    if [[ "$mode" == files ]]; then
        cat "$dir/$1-$2.json"
    else
        "$kubectl" get "$1" -n "$ns" "$2" -ojson
    fi
}

get role k8sagent-pods-access | jq ".metadata.namespace=\"$target\"" | jq 'del(.metadata.uid)' | jq 'del(.metadata.resourceVersion)' | jq 'del(.metadata.creationTimestamp)'
get rolebinding k8sagent-pods-access | jq ".metadata.namespace=\"$target\"" | jq 'del(.metadata.uid)' | jq 'del(.metadata.resourceVersion)' | jq 'del(.metadata.creationTimestamp)'
get secret clearml-conf | jq ".metadata.namespace=\"$target\"" | jq 'del(.metadata.uid)' | jq 'del(.metadata.resourceVersion)' | jq 'del(.metadata.creationTimestamp)'
get configmap k8sagent-pod-template | sed 's@tolerations:\\n    {}@tolerations:\\n    []@g' | jq ".metadata.namespace=\"$target\"" | jq 'del(.metadata.uid)' | jq 'del(.metadata.resourceVersion)' | jq 'del(.metadata.creationTimestamp)' | jq '.data["template.yaml"]=(.data["template.yaml"] + "  schedulerName: runai-scheduler")'
get deployment clearml-k8sagent | sed "s/clearml-apiserver/clearml-apiserver.$ns.svc.cluster.local/; s/clearml-webserver/clearml-webserver.$ns.svc.cluster.local/; s/clearml-fileserver/clearml-fileserver.$ns.svc.cluster.local/; s@--template-yaml /root/template/template.yaml@--template-yaml /root/template/template.yaml --namespace $target@; s/k8s-agent/runai-k8s-agent/; s/aws-instances/$target/" | jq 'del(.status)' | jq 'del(.metadata.creationTimestamp)' | jq 'del(.metadata.generation)' | jq 'del(.metadata.uid)' | jq 'del(.metadata.resourceVersion)' | jq ".metadata.namespace=\"$target\""
