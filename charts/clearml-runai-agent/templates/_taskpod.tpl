{{- /*
The task pod builder and the pod-spec pieces it shares with the agent Deployment.
*/}}
{{/*
The task pod template, built as data: the partial Pod the agent loads from template.yaml and
completes (name, image, command, task env) for every task. It names no namespace, so the agent
creates task pods in its --namespace, the release namespace, inside the Run:ai project.
Returns YAML.
*/}}
{{- define "clearml-runai-agent.taskPodTemplate" -}}
{{- $v := .Values }}
{{- $tp := $v.taskPod }}
{{- $kai := include "clearml-runai-agent.isKai" . }}
{{- $queue := include "clearml-runai-agent.queue" . }}

{{- /* Scheduling labels derived from runai.*; taskPod.labels may add, not contradict. */}}
{{- $owned := dict "project" $v.runai.project }}
{{- if $kai }}
{{- $_ := set $owned "kai.scheduler/queue" $queue }}
{{- else }}
{{- $_ := set $owned "runai/queue" $queue }}
{{- end }}
{{- with $v.runai.priorityClass }}
{{- $_ := set $owned "priorityClassName" . }}
{{- end }}
{{- with $v.runai.nodePool }}
{{- if $kai }}
{{- $_ := set $owned "kai.scheduler/node-pool" . }}
{{- else }}
{{- $_ := set $owned "runai/node-pool" . }}
{{- end }}
{{- end }}
{{- $labels := dict }}
{{- range $k, $val := $tp.labels }}
{{- if and (hasKey $owned $k) (ne (toString $val) (get $owned $k)) }}
{{- fail (printf "taskPod.labels.%s contradicts the value the chart derives from runai.* (%q): set it through runai.* instead" $k (get $owned $k)) }}
{{- end }}
{{- $_ := set $labels $k $val }}
{{- end }}
{{- range $k, $val := $owned }}
{{- $_ := set $labels $k $val }}
{{- end }}

{{- $ownedAnnotations := dict }}
{{- with $v.runai.gpuFraction }}
{{- $_ := set $ownedAnnotations "gpu-fraction" (toString .) }}
{{- end }}
{{- $annotations := dict }}
{{- range $k, $val := $tp.annotations }}
{{- if and (hasKey $ownedAnnotations $k) (ne (toString $val) (get $ownedAnnotations $k)) }}
{{- fail (printf "taskPod.annotations.%s contradicts runai.gpuFraction (%q): set it through runai.gpuFraction instead" $k (get $ownedAnnotations $k)) }}
{{- end }}
{{- $_ := set $annotations $k $val }}
{{- end }}
{{- range $k, $val := $ownedAnnotations }}
{{- $_ := set $annotations $k $val }}
{{- end }}

{{- /* Task container: ClearML hosts and credentials first, then the user's env. */}}
{{- $secretName := include "clearml-runai-agent.secretName" . }}
{{- $env := list (dict "name" "CLEARML_API_HOST" "value" $v.clearml.apiHost) }}
{{- with $v.clearml.webHost }}
{{- $env = append $env (dict "name" "CLEARML_WEB_HOST" "value" .) }}
{{- end }}
{{- with $v.clearml.filesHost }}
{{- $env = append $env (dict "name" "CLEARML_FILES_HOST" "value" .) }}
{{- end }}
{{- $env = append $env (dict "name" "CLEARML_API_ACCESS_KEY" "valueFrom" (dict "secretKeyRef" (dict "name" $secretName "key" (include "clearml-runai-agent.accessKeyKey" .)))) }}
{{- $env = append $env (dict "name" "CLEARML_API_SECRET_KEY" "valueFrom" (dict "secretKeyRef" (dict "name" $secretName "key" (include "clearml-runai-agent.secretKeyKey" .)))) }}
{{- $env = concat $env $tp.env }}
{{- $container := dict "env" $env }}
{{- $resources := deepCopy ($tp.resources | default dict) }}
{{- if $v.runai.gpuFraction }}
{{- /* a GPU fraction and a whole-GPU request together: the Run:ai scheduler refuses to bind the pod */}}
{{- range $group := list "limits" "requests" }}
{{- with get $resources $group }}
{{- $_ := unset . "nvidia.com/gpu" }}
{{- if not . }}
{{- $_ := unset $resources $group }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with $resources }}
{{- $_ := set $container "resources" . }}
{{- end }}
{{- with $tp.volumeMounts }}
{{- $_ := set $container "volumeMounts" . }}
{{- end }}
{{- with $tp.securityContext }}
{{- $_ := set $container "securityContext" (include "clearml-runai-agent.securityContext" . | fromYaml) }}
{{- end }}
{{- /* extraContainerSpec: each key replaces the chart's value of that key. */}}
{{- range $k, $val := $tp.extraContainerSpec }}
{{- if eq $k "env" }}
{{- fail "taskPod.extraContainerSpec.env would drop the ClearML hosts and credentials: use taskPod.env" }}
{{- end }}
{{- $_ := set $container $k $val }}
{{- end }}

{{- $spec := dict "schedulerName" $v.runai.scheduler "restartPolicy" "Never" "automountServiceAccountToken" $tp.automountServiceAccountToken }}
{{- with $tp.serviceAccountName }}
{{- $_ := set $spec "serviceAccountName" . }}
{{- end }}
{{- with $tp.podSecurityContext }}
{{- $_ := set $spec "securityContext" . }}
{{- end }}
{{- with $tp.nodeSelector }}
{{- $_ := set $spec "nodeSelector" . }}
{{- end }}
{{- with $tp.tolerations }}
{{- $_ := set $spec "tolerations" . }}
{{- end }}
{{- with $tp.affinity }}
{{- $_ := set $spec "affinity" . }}
{{- end }}
{{- with $tp.priorityClassName }}
{{- $_ := set $spec "priorityClassName" . }}
{{- end }}
{{- with $tp.imagePullSecrets }}
{{- $_ := set $spec "imagePullSecrets" (include "clearml-runai-agent.pullSecrets" . | fromYamlArray) }}
{{- end }}
{{- with $tp.initContainers }}
{{- $_ := set $spec "initContainers" . }}
{{- end }}
{{- with $tp.volumes }}
{{- $_ := set $spec "volumes" . }}
{{- end }}
{{- $_ := set $spec "containers" (list $container) }}
{{- /* extraPodSpec, last: each key replaces the chart's value of that key. */}}
{{- range $k, $val := $tp.extraPodSpec }}
{{- if eq $k "containers" }}
{{- fail "taskPod.extraPodSpec.containers would replace the task container: use taskPod.extraContainerSpec" }}
{{- end }}
{{- if eq $k "schedulerName" }}
{{- fail "taskPod.extraPodSpec.schedulerName would bypass the Run:ai scheduler: use runai.scheduler" }}
{{- end }}
{{- $_ := set $spec $k $val }}
{{- end }}

{{- /* The checkov policies task pods cannot meet with these values, each skipped with its reason:
only on request, so that production task pods do not carry scanner directives. */}}
{{- $skips := dict }}
{{- if $tp.policySkipAnnotations }}
{{- $skips = include "clearml-runai-agent.taskPodCheckovSkips" (dict "spec" $spec "container" $container) | fromYaml }}
{{- end }}
{{- $podAnnotations := deepCopy $annotations }}
{{- range $k, $val := include "clearml-runai-agent.checkovAnnotations" $skips | fromYaml }}
{{- $_ := set $podAnnotations $k $val }}
{{- end }}
{{- $metadata := dict "labels" $labels "annotations" $podAnnotations }}

{{- if eq (include "clearml-runai-agent.glueKind" .) "job" }}
{{- /* Job mode: the glue completes spec.template.spec; Run:ai reads the pod's labels. The Job
itself gets the skips of the checks checkov applies to Jobs: probes are its pods' only. */}}
{{- $jobAnnotations := deepCopy $annotations }}
{{- range $k, $val := include "clearml-runai-agent.checkovAnnotations" (omit $skips "CKV_K8S_8" "CKV_K8S_9") | fromYaml }}
{{- $_ := set $jobAnnotations $k $val }}
{{- end }}
{{- $jobMetadata := dict "labels" (deepCopy $labels) "annotations" $jobAnnotations }}
{{- $job := dict "apiVersion" "batch/v1" "kind" "Job" "metadata" $jobMetadata "spec" (dict "template" (dict "metadata" $metadata "spec" $spec)) }}
{{- toYaml $job }}
{{- else }}
{{- toYaml (dict "apiVersion" "v1" "kind" "Pod" "metadata" $metadata "spec" $spec) }}
{{- end }}
{{- end }}

{{/*
A container securityContext in which the user's settings win over the chart's hardening defaults
where Kubernetes refuses both together: `privileged: true` (or adding SYS_ADMIN) with
`allowPrivilegeEscalation: false`, and a capability both added and dropped. Called with the merged
securityContext; returns YAML.
*/}}
{{- define "clearml-runai-agent.securityContext" -}}
{{- $sc := deepCopy (. | default dict) }}
{{- $caps := $sc.capabilities | default dict }}
{{- $add := $caps.add | default list }}
{{- $sysAdmin := or (has "SYS_ADMIN" $add) (has "CAP_SYS_ADMIN" $add) }}
{{- if and (or $sc.privileged $sysAdmin) (hasKey $sc "allowPrivilegeEscalation") (not $sc.allowPrivilegeEscalation) }}
{{- $_ := unset $sc "allowPrivilegeEscalation" }}
{{- end }}
{{- if and $add $caps.drop }}
{{- $drop := list }}
{{- range $caps.drop }}
{{- if not (has . $add) }}
{{- $drop = append $drop . }}
{{- end }}
{{- end }}
{{- $caps = deepCopy $caps }}
{{- if $drop }}
{{- $_ := set $caps "drop" $drop }}
{{- else }}
{{- $_ := unset $caps "drop" }}
{{- end }}
{{- $_ := set $sc "capabilities" $caps }}
{{- end }}
{{- toYaml $sc }}
{{- end }}

{{/*
imagePullSecrets as Kubernetes wants them: a list of {name: ...}. Values may give plain
names or such objects. Called with the list; returns YAML (empty list when none).
*/}}
{{- define "clearml-runai-agent.pullSecrets" -}}
{{- $out := list }}
{{- range . }}
{{- if kindIs "string" . }}
{{- $out = append $out (dict "name" .) }}
{{- else }}
{{- $out = append $out . }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}
