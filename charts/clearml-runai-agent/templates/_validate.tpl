{{- /*
Checks of the values that the schema cannot express.
*/}}
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
{{- if not (or .Values.agent.queues .Values.queueProfiles) }}
{{- fail "agent.queues is required: the ClearML queues the agent serves" }}
{{- end }}
{{- include "clearml-runai-agent.validateProfiles" . }}
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
Queue profiles: one agent per queue, so no queue twice and no name twice.
*/}}
{{- define "clearml-runai-agent.validateProfiles" -}}
{{- $names := list }}
{{- $queues := .Values.agent.queues }}
{{- range .Values.queueProfiles }}
{{- if has .name $names }}
{{- fail (printf "queueProfiles: two profiles are named %q: give each its own name" .name) }}
{{- end }}
{{- if has .queue $queues }}
{{- fail (printf "queueProfiles: queue %q is served twice (by agent.queues or another profile): two agents would race for its tasks" .queue) }}
{{- end }}
{{- $names = append $names .name }}
{{- $queues = append $queues .queue }}
{{- end }}
{{- end }}
