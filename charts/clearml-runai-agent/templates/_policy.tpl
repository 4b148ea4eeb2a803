{{- /*
Policy: the checkov checks the chart's objects cannot meet, each skipped with its reason.
*/}}
{{/*
checkov skips as annotations: called with a dict of check id -> reason, returns YAML of
`checkov.io/skip-<id>: <ID>=<reason>`, the form checkov reads from an object's annotations.
checkov splits the value at "=", so a reason may not hold one.
*/}}
{{- define "clearml-runai-agent.checkovAnnotations" -}}
{{- $annotations := dict }}
{{- range $id, $reason := . }}
{{- if contains "=" $reason }}
{{- fail (printf "the checkov reason of %s may not contain '='" $id) }}
{{- end }}
{{- $_ := set $annotations (printf "checkov.io/skip-%s" ($id | lower | replace "_" "-")) (printf "%s=%s" $id $reason) }}
{{- end }}
{{- toYaml $annotations }}
{{- end }}

{{/*
The checkov policies the agent Deployment does not meet with these values, each with the reason
it cannot. A skip stands only where the chart's own default fails a check: a check that passes,
or that fails on a setting the user chose (`runAsUser: 1000`, ...), gets none. Returns YAML.
*/}}
{{- define "clearml-runai-agent.agentCheckovSkips" -}}
{{- $pod := .pod | default dict }}
{{- $container := .container | default dict }}
{{- $image := .image }}
{{- $skips := dict
  "CKV_K8S_8" "the agent serves no port; it exits, and is restarted, when its glue loop stops"
  "CKV_K8S_9" "the agent serves no traffic for readiness to gate"
  "CKV_K8S_35" "clearml-agent reads its API credentials from env, set by secretKeyRef"
  "CKV_K8S_38" "the agent manages task pods through the Kubernetes API as its ServiceAccount"
}}
{{- if not $image.digest }}
{{- $_ := set $skips "CKV_K8S_43" "the image is pinned by tag; agent.image.digest pins it by digest" }}
{{- if ne $image.pullPolicy "Always" }}
{{- $_ := set $skips "CKV_K8S_15" "the image is pinned by tag; agent.image.digest, or pullPolicy Always, makes sure of it" }}
{{- end }}
{{- end }}
{{- if not (hasKey $container "readOnlyRootFilesystem") }}
{{- $_ := set $skips "CKV_K8S_22" "the stock agent image writes under /root; see agent.hardened" }}
{{- end }}
{{- $asRoot := "the stock agent image runs as root from /root; see agent.hardened" }}
{{- if not (or (hasKey $pod "runAsNonRoot") (hasKey $pod "runAsUser") (hasKey $container "runAsNonRoot") (hasKey $container "runAsUser")) }}
{{- $_ := set $skips "CKV_K8S_23" $asRoot }}
{{- end }}
{{- if not (or (hasKey $pod "runAsUser") (hasKey $container "runAsUser")) }}
{{- $_ := set $skips "CKV_K8S_40" $asRoot }}
{{- end }}
{{- include "clearml-runai-agent.checkovAnnotations" $skips }}
{{- end }}

{{/*
The checkov policies task pods do not meet with these values, each with the reason it cannot;
called with the final pod spec and task container. Task pods are the agent's to complete: it
sets the image and command of each task, and starts it by installing packages as root. As for
the agent, only the chart's own defaults get a skip. Returns YAML of check id -> reason.
*/}}
{{- define "clearml-runai-agent.taskPodCheckovSkips" -}}
{{- $spec := .spec }}
{{- $container := .container }}
{{- $pod := $spec.securityContext | default dict }}
{{- $context := $container.securityContext | default dict }}
{{- $resources := $container.resources | default dict }}
{{- $skips := dict
  "CKV_K8S_35" "clearml-agent reads its API credentials from env, set by secretKeyRef"
  "CKV_K8S_43" "the agent sets the image each task names"
  "CKV2_K8S_6" "tasks open ports of their own (clearml-session)"
}}
{{- if not $container.livenessProbe }}
{{- $_ := set $skips "CKV_K8S_8" "a task runs to its end and serves nothing" }}
{{- end }}
{{- if not $container.readinessProbe }}
{{- $_ := set $skips "CKV_K8S_9" "a task runs to its end and serves nothing" }}
{{- end }}
{{- /* checkov fails these when resources is empty, or when requests (limits) is a map without the key;
resources without requests (limits) at all it reports neither passed nor failed: no skip then. */}}
{{- range $id, $path := dict "CKV_K8S_10" (list "requests" "cpu") "CKV_K8S_11" (list "limits" "cpu") "CKV_K8S_12" (list "requests" "memory") "CKV_K8S_13" (list "limits" "memory") }}
{{- $group := get $resources (first $path) }}
{{- if or (not $resources) (and (kindIs "map" $group) (not (hasKey $group (last $path)))) }}
{{- $_ := set $skips $id "tasks differ in size; taskPod.resources sets it" }}
{{- end }}
{{- end }}
{{- if ne (toString $container.imagePullPolicy) "Always" }}
{{- $_ := set $skips "CKV_K8S_15" "the agent sets the task image; its docker_force_pull option pulls it Always" }}
{{- end }}
{{- $asRoot := "the agent starts each task by installing packages as root" }}
{{- if not (hasKey $context "readOnlyRootFilesystem") }}
{{- $_ := set $skips "CKV_K8S_22" $asRoot }}
{{- end }}
{{- if not (or (hasKey $pod "runAsNonRoot") (hasKey $pod "runAsUser") (hasKey $context "runAsNonRoot") (hasKey $context "runAsUser")) }}
{{- $_ := set $skips "CKV_K8S_23" $asRoot }}
{{- end }}
{{- if not (or (hasKey $pod "runAsUser") (hasKey $context "runAsUser") (hasKey $spec "hostUsers")) }}
{{- $_ := set $skips "CKV_K8S_40" $asRoot }}
{{- end }}
{{- $capabilities := $context.capabilities | default dict }}
{{- if not (has "ALL" ($capabilities.drop | default list)) }}
{{- $_ := set $skips "CKV_K8S_37" "installing packages as root needs CHOWN, SETUID and SETGID" }}
{{- end }}
{{- toYaml $skips }}
{{- end }}
