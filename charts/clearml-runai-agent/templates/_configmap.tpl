{{- /*
The task-template ConfigMap of a context (the release's, or a queue profile's). The agent
Deployment's checksum/template is the hash of this text: a changed template rolls the agent.
*/}}
{{- define "clearml-runai-agent.templateConfigMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "clearml-runai-agent.templateConfigMapName" . }}
  namespace: {{ include "clearml-runai-agent.namespace" . }}
  labels:
    {{- include "clearml-runai-agent.agentLabels" . | nindent 4 }}
data:
  {{- if not (include "clearml-runai-agent.confKey" .) }}
  # The agent's clearml.conf when the values give none: its settings come from the environment.
  clearml.conf: |
    # clearml.conf of the agent: its credentials and hosts come from the environment (CLEARML_API_*).
    # Mounted read-only, so that no credential is written here: the agent copies this file into the
    # arguments of every task pod it creates.
  {{- end }}
  template.yaml: |
    {{- include "clearml-runai-agent.taskPodTemplate" . | nindent 4 }}
{{ end }}
