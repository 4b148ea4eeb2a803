{{- /*
The agent Deployment, built for a context: the release's own (serving agent.queues), or a queue
profile's (see _profiles.tpl), which serves exactly its queue with its own task pod template.
*/}}
{{- define "clearml-runai-agent.deployment" -}}
{{- $namespace := include "clearml-runai-agent.namespace" . }}
{{- $confKey := include "clearml-runai-agent.confKey" . }}
{{- $secretName := include "clearml-runai-agent.secretName" . }}
{{- $extraArgs := concat (list "--namespace" $namespace "--template-yaml" "/root/template/template.yaml") .Values.agent.extraArgs }}
{{- if and .Values.agent.createQueue (not (has "--create-queue" $extraArgs)) }}
{{- $extraArgs = append $extraArgs "--create-queue" }}
{{- end }}
{{- $securityContext := dict }}
{{- if .Values.agent.hardened }}
{{- $securityContext = dict "runAsNonRoot" true "readOnlyRootFilesystem" true "runAsUser" 10001 "runAsGroup" 10001 }}
{{- end }}
{{- /* The user's securityContext wins over the hardened defaults, key by key. */}}
{{- range $k, $val := .Values.agent.securityContext }}
{{- $_ := set $securityContext $k $val }}
{{- end }}
{{- $securityContext = include "clearml-runai-agent.securityContext" $securityContext | fromYaml }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "clearml-runai-agent.agentName" . }}
  namespace: {{ $namespace }}
  labels:
    {{- include "clearml-runai-agent.agentLabels" . | nindent 4 }}
  annotations:
    {{- $origin := .Values.origin }}
    {{- if $origin.agent }}
    # where the values were rendered from (clearml-runai-gen)
    {{- $recorded := dict "clearmlNamespace" $origin.clearmlNamespace "agent" $origin.agent "clusterDomain" $origin.clusterDomain "agentImage" $origin.agentImage "templateQueue" $origin.templateQueue }}
    {{- with $origin.queueProfiles }}
    {{- $_ := set $recorded "queueProfiles" . }}
    {{- end }}
    clearml-runai.io/origin: {{ $recorded | toJson | quote }}
    {{- end }}
    {{- include "clearml-runai-agent.agentCheckovSkips" (dict "pod" .Values.agent.podSecurityContext "container" $securityContext "image" .Values.agent.image) | nindent 4 }}
spec:
  # One agent per queue set: two agents pulling the same queues would race for its tasks.
  replicas: 1
  strategy:
    # The old agent stops before the new one starts, for the same reason.
    type: Recreate
  selector:
    matchLabels:
      {{- include "clearml-runai-agent.agentSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
        # The agent reads template.yaml and its credentials once, at start: roll it when they change.
        checksum/template: {{ include "clearml-runai-agent.templateConfigMap" . | sha256sum }}
        {{- if and .Values.clearml.existingSecret .Values.clearml.existingSecretChecksum }}
        # A Secret the chart does not own: a checksum of its content, from whoever writes it.
        checksum/secret: {{ printf "%s/%s" .Values.clearml.existingSecret .Values.clearml.existingSecretChecksum | sha256sum }}
        {{- else if .Values.clearml.existingSecret }}
        checksum/secret: {{ .Values.clearml.existingSecret | sha256sum }}
        {{- else }}
        checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
        {{- end }}
        {{- if and .Values.agent.fileMounts (not .Values.agent.fileMountsSecret) }}
        checksum/files: {{ include (print $.Template.BasePath "/secret-files.yaml") $ | sha256sum }}
        {{- end }}
        {{- with .Values.agent.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "clearml-runai-agent.agentLabels" . | nindent 8 }}
        {{- with .Values.agent.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "clearml-runai-agent.serviceAccountName" . }}
      # The agent drives the API server with kubectl, as its ServiceAccount.
      automountServiceAccountToken: true
      {{- with .Values.agent.imagePullSecrets }}
      imagePullSecrets:
        {{- include "clearml-runai-agent.pullSecrets" . | nindent 8 }}
      {{- end }}
      {{- with .Values.agent.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .Values.agent.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.agent.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.agent.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.agent.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: k8s-glue
          image: {{ include "clearml-runai-agent.image" . | quote }}
          imagePullPolicy: {{ .Values.agent.image.pullPolicy }}
          command:
            {{- toYaml .Values.agent.command | nindent 12 }}
          env:
            - name: CLEARML_API_HOST
              value: {{ .Values.clearml.apiHost | quote }}
            {{- with .Values.clearml.webHost }}
            - name: CLEARML_WEB_HOST
              value: {{ . | quote }}
            {{- end }}
            {{- with .Values.clearml.filesHost }}
            - name: CLEARML_FILES_HOST
              value: {{ . | quote }}
            {{- end }}
            - name: CLEARML_API_ACCESS_KEY
              valueFrom:
                secretKeyRef:
                  name: {{ $secretName }}
                  key: {{ include "clearml-runai-agent.accessKeyKey" . }}
            - name: CLEARML_API_SECRET_KEY
              valueFrom:
                secretKeyRef:
                  name: {{ $secretName }}
                  key: {{ include "clearml-runai-agent.secretKeyKey" . }}
            - name: K8S_GLUE_QUEUE
              value: {{ join "," .Values.agent.queues | quote }}
            {{- if gt (int .Values.agent.maxPods) 0 }}
            - name: K8S_GLUE_MAX_PODS
              value: {{ .Values.agent.maxPods | int | toString | quote }}
            {{- end }}
            {{- if gt (int .Values.agent.finishedPodRetentionMinutes) 0 }}
            - name: K8S_GLUE_COMPLETED_POD_DELETION_DELAY_MINUTES
              value: {{ .Values.agent.finishedPodRetentionMinutes | int | toString | quote }}
            {{- end }}
            - name: K8S_GLUE_EXTRA_ARGS
              value: {{ join " " $extraArgs | quote }}
            - name: K8S_DEFAULT_NAMESPACE
              value: {{ $namespace | quote }}
            - name: CLEARML_WORKER_ID
              value: {{ include "clearml-runai-agent.workerId" . | quote }}
            {{- with .Values.agent.defaultTaskImage }}
            - name: CLEARML_DOCKER_IMAGE
              value: {{ . | quote }}
            {{- end }}
            {{- if .Values.agent.noSelfUpdate }}
            - name: CLEARML_AGENT_NO_UPDATE
              value: "1"
            {{- end }}
            - name: CLEARML_CONFIG_FILE
              value: /root/clearml.conf
            {{- with .Values.agent.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          volumeMounts:
            {{- if .Values.agent.hardened }}
            - name: home
              mountPath: /root
            - name: tmp
              mountPath: /tmp
            {{- end }}
            - name: pod-template
              mountPath: /root/template
              readOnly: true
            # Always a read-only clearml.conf: the image's entrypoint would otherwise append the
            # credentials to ~/clearml.conf, which the agent copies into every task pod's arguments.
            - name: clearml-conf
              mountPath: /root/clearml.conf
              subPath: clearml.conf
              readOnly: true
            {{- range .Values.agent.fileMounts }}
            - name: files
              mountPath: {{ printf "%s/%s" (trimSuffix "/" .folderPath) .name | quote }}
              subPath: {{ .key | default .name | quote }}
              readOnly: true
            {{- end }}
            {{- with .Values.agent.volumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- with .Values.agent.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      volumes:
        {{- if .Values.agent.hardened }}
        - name: home
          emptyDir: {}
        - name: tmp
          emptyDir: {}
        {{- end }}
        - name: pod-template
          configMap:
            name: {{ include "clearml-runai-agent.templateConfigMapName" . }}
            items:
              - key: template.yaml
                path: template.yaml
        - name: clearml-conf
          {{- if $confKey }}
          secret:
            secretName: {{ $secretName }}
            items:
              - key: {{ $confKey }}
                path: clearml.conf
          {{- else }}
          configMap:
            name: {{ include "clearml-runai-agent.templateConfigMapName" . }}
            items:
              - key: clearml.conf
                path: clearml.conf
          {{- end }}
        {{- if .Values.agent.fileMounts }}
        - name: files
          secret:
            secretName: {{ .Values.agent.fileMountsSecret | default (include "clearml-runai-agent.filesSecretName" .) }}
        {{- end }}
        {{- with .Values.agent.volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end }}
