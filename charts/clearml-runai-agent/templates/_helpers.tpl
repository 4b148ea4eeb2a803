{{/*
Name of the chart, as the `app.kubernetes.io/name` label carries it.
*/}}
{{- define "clearml-runai-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: fullnameOverride, else the release name, cut to the
63 characters of a DNS label. Release names are unique per namespace, so the objects of two
releases never collide.
*/}}
{{- define "clearml-runai-agent.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Chart name and version, as the `helm.sh/chart` label carries it.
*/}}
{{- define "clearml-runai-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Namespace of every object: the release namespace, which is the Run:ai project namespace.
*/}}
{{- define "clearml-runai-agent.namespace" -}}
{{- .Release.Namespace }}
{{- end }}

{{/*
Labels that select the agent pod. They must never change between upgrades: a changed
Deployment selector makes `helm upgrade` fail.
*/}}
{{- define "clearml-runai-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clearml-runai-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of every object of the chart.
*/}}
{{- define "clearml-runai-agent.labels" -}}
helm.sh/chart: {{ include "clearml-runai-agent.chart" . }}
{{ include "clearml-runai-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: agent
{{- end }}

{{/*
ServiceAccount of the agent.
*/}}
{{- define "clearml-runai-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "clearml-runai-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Secret holding the ClearML credentials: the user's existingSecret, else the chart's own.
*/}}
{{- define "clearml-runai-agent.secretName" -}}
{{- default (include "clearml-runai-agent.fullname" .) .Values.clearml.existingSecret }}
{{- end }}

{{/*
Keys of the credentials (and of an optional clearml.conf) in that Secret.
*/}}
{{- define "clearml-runai-agent.accessKeyKey" -}}
{{- if .Values.clearml.existingSecret }}
{{- .Values.clearml.existingSecretKeys.accessKey }}
{{- else -}}
CLEARML_API_ACCESS_KEY
{{- end }}
{{- end }}

{{- define "clearml-runai-agent.secretKeyKey" -}}
{{- if .Values.clearml.existingSecret }}
{{- .Values.clearml.existingSecretKeys.secretKey }}
{{- else -}}
CLEARML_API_SECRET_KEY
{{- end }}
{{- end }}

{{/*
Key of the clearml.conf in the Secret; empty when there is none.
*/}}
{{- define "clearml-runai-agent.confKey" -}}
{{- if .Values.clearml.existingSecret }}
{{- .Values.clearml.existingSecretKeys.conf }}
{{- else if .Values.clearml.conf -}}
clearml.conf
{{- end }}
{{- end }}

{{/*
Name of the ConfigMap holding the task pod template.
*/}}
{{- define "clearml-runai-agent.templateConfigMapName" -}}
{{- printf "%s-pod-template" (include "clearml-runai-agent.fullname" .) }}
{{- end }}

{{/*
Agent image: repository@digest when a digest is set, else repository:tag.
*/}}
{{- define "clearml-runai-agent.image" -}}
{{- $image := .Values.agent.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (required "agent.image.tag or agent.image.digest is required" $image.tag) }}
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
Name of the Secret holding the agent's fileMounts.
*/}}
{{- define "clearml-runai-agent.filesSecretName" -}}
{{- printf "%s-files" (include "clearml-runai-agent.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Scheduler queue of task pods: runai.queue, else the project name.
*/}}
{{- define "clearml-runai-agent.queue" -}}
{{- default .Values.runai.project .Values.runai.queue }}
{{- end }}

{{/*
True (non-empty) when task pods go to the open-source KAI scheduler, whose labels differ.
*/}}
{{- define "clearml-runai-agent.isKai" -}}
{{- if eq .Values.runai.scheduler "kai-scheduler" }}true{{ end }}
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

{{/*
Checks of the values that the schema cannot express. `helm lint` logs these instead of
failing (helm's lint mode), so the chart lints clean with its empty defaults while
`helm install` and `helm template` refuse them.
*/}}
{{- define "clearml-runai-agent.validate" -}}
{{- $project := required "runai.project is required: the Run:ai project the agent serves (namespace runai-<project>)" .Values.runai.project }}
{{- if and $project (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $project)) }}
{{- fail (printf "runai.project %q is not a DNS label (lower-case letters, digits and '-')" $project) }}
{{- end }}
{{- if gt (len $project) 57 }}
{{- fail (printf "runai.project %q is longer than 57 characters: runai-<project> must fit a 63-character namespace name" $project) }}
{{- end }}
{{- with .Values.runai.namespace }}
{{- if ne . $.Release.Namespace }}
{{- fail (printf "these values are for namespace %q, not %q: install with --namespace %s" . $.Release.Namespace .) }}
{{- end }}
{{- end }}
{{- if not .Values.agent.queues }}
{{- fail "agent.queues is required: the ClearML queues the agent serves" }}
{{- end }}
{{- $_ := required "clearml.apiHost is required: the ClearML API server URL as reached from the Run:ai namespace" .Values.clearml.apiHost }}
{{- if and .Values.clearml.existingSecretChecksum (not .Values.clearml.existingSecret) }}
{{- fail "clearml.existingSecretChecksum is the checksum of clearml.existingSecret: set both, or neither" }}
{{- end }}
{{- if and (eq (include "clearml-runai-agent.glueKind" .) "job") .Values.rbac.create (not .Values.rbac.jobs) }}
{{- fail "agent.extraEnv sets CLEARML_K8S_GLUE_KIND=job: set rbac.jobs=true so the agent may manage Jobs" }}
{{- end }}
{{- range .Values.agent.extraArgs }}
{{- if regexMatch "(^|\\s)--(namespace|template-yaml|queue)(=|\\s|$)" . }}
{{- fail (printf "agent.extraArgs must not contain %q: the chart sets --namespace and --template-yaml, and the queues come from agent.queues" .) }}
{{- end }}
{{- end }}
{{- if and (gt (int .Values.agent.maxPods) 0) (has "--ports-mode" .Values.agent.extraArgs) }}
{{- fail "agent.extraArgs --ports-mode needs agent.maxPods: 0: the k8s glue takes --ports-mode or --max-pods, never both, and exits at start otherwise" }}
{{- end }}
{{- end }}

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
What the glue creates per task: "pod" (its default) or "job" when agent.extraEnv sets
CLEARML_K8S_GLUE_KIND=job. The glue refuses a template of the other kind.
*/}}
{{- define "clearml-runai-agent.glueKind" -}}
{{- $kind := "pod" }}
{{- range .Values.agent.extraEnv }}
{{- if and (eq (toString .name) "CLEARML_K8S_GLUE_KIND") .value }}
{{- $kind = lower (trim (toString .value)) }}
{{- end }}
{{- end }}
{{- if not (has $kind (list "pod" "job")) }}
{{- fail (printf "agent.extraEnv CLEARML_K8S_GLUE_KIND=%q: the agent supports pod or job" $kind) }}
{{- end }}
{{- $kind }}
{{- end }}

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
