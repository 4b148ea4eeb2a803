{{- /*
Queue profiles: each runs its own agent Deployment, serving exactly its queue, with its own task
pod template ConfigMap. They share the release's ServiceAccount, RBAC, credentials and clearml.conf.
*/}}

{{/*
Fills .out with the context a profile's objects are built in: the release's context whose values
are those of the profile (its queue, worker id, runai.* placement, and taskPod keys, each replacing
the release's), plus `Profile`. Called with (dict "root" $ "profile" <profile> "out" <dict>).
*/}}
{{- define "clearml-runai-agent.profileContext" -}}
{{- $root := .root }}
{{- $p := .profile }}
{{- $v := deepCopy $root.Values }}
{{- range $k, $val := $p.runai | default dict }}
{{- $_ := set $v.runai $k $val }}
{{- end }}
{{- range $k, $val := $p.taskPod | default dict }}
{{- $_ := set $v.taskPod $k $val }}
{{- end }}
{{- $_ := set $v.agent "queues" (list $p.queue) }}
{{- $_ := set $v.agent "workerId" (default (printf "%s-%s" (default (include "clearml-runai-agent.fullname" $root) $root.Values.agent.workerId) $p.name) $p.workerId) }}
{{- range $k, $val := dict "Values" $v "Release" $root.Release "Chart" $root.Chart "Template" $root.Template "Capabilities" $root.Capabilities "Files" $root.Files "Profile" $p }}
{{- $_ := set $.out $k $val }}
{{- end }}
{{- end }}

{{/*
The profile of a context; empty for the release's own.
*/}}
{{- define "clearml-runai-agent.profileName" -}}
{{- with get . "Profile" }}{{ .name }}{{ end }}
{{- end }}

{{/*
Name of a context's agent Deployment: the full name, or `<full name>-<profile>` for a profile,
kept to 50 characters (a hash keeps cut names apart) so that `<name>-pod-template` fits 63.
*/}}
{{- define "clearml-runai-agent.agentName" -}}
{{- $fullname := include "clearml-runai-agent.fullname" . }}
{{- with include "clearml-runai-agent.profileName" . }}
{{- $name := printf "%s-%s" $fullname . }}
{{- if gt (len $name) 50 }}
{{- $name = printf "%s-%s" ($name | trunc 41 | trimSuffix "-") ($name | sha256sum | trunc 8) }}
{{- end }}
{{- $name }}
{{- else }}
{{- $fullname }}
{{- end }}
{{- end }}

{{/*
Selector labels of a context's agent pods: the release's, and for a profile its name. A
Deployment's selector never changes; the release's own keeps the release's labels only.
*/}}
{{- define "clearml-runai-agent.agentSelectorLabels" -}}
{{ include "clearml-runai-agent.selectorLabels" . }}
{{- with include "clearml-runai-agent.profileName" . }}
clearml-runai.io/queue-profile: {{ . }}
{{- end }}
{{- end }}

{{/*
Labels of a context's agent objects: the release's, and for a profile its name.
*/}}
{{- define "clearml-runai-agent.agentLabels" -}}
{{ include "clearml-runai-agent.labels" . }}
{{- with include "clearml-runai-agent.profileName" . }}
clearml-runai.io/queue-profile: {{ . }}
{{- end }}
{{- end }}

{{/*
Worker id of a context's agent: agent.workerId, else the full name (a profile's context sets its own).
*/}}
{{- define "clearml-runai-agent.workerId" -}}
{{- default (include "clearml-runai-agent.fullname" .) .Values.agent.workerId }}
{{- end }}
