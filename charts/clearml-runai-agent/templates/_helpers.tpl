{{- /*
Names and labels of the release's objects, and the small lookups derived from values.
The builders live apart: _validate.tpl (checks of values), _taskpod.tpl (the task pod template),
_policy.tpl (policy-scanner skips).
*/}}
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
{{- printf "%s-pod-template" (include "clearml-runai-agent.agentName" .) }}
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
