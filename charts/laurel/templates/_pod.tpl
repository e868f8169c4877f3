{{/*
Pod parts shared by the services, the hook Jobs and the test pod: settings
as environment, mounted files, and the security context nobody can loosen.
*/}}

{{/* LAUREL_* settings every Laurel process reads (root context). */}}
{{- define "laurel.env.common" -}}
- name: LAUREL_ENV
  value: {{ .Values.environment | quote }}
- name: LAUREL_DATA_DIR
  value: /tmp/laurel
- name: LAUREL_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: LAUREL_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
- name: LAUREL_KAFKA_GROUP_PREFIX
  value: {{ .Values.kafka.groupPrefix | quote }}
- name: LAUREL_TOPIC_PARTITIONS
  value: {{ .Values.kafka.topics.partitions | int | quote }}
- name: LAUREL_TOPIC_REPLICATION_FACTOR
  value: {{ .Values.kafka.topics.replicationFactor | int | quote }}
{{- range $service, $topic := .Values.kafka.topics.names }}
- name: LAUREL_TOPIC_{{ upper $service }}
  value: {{ $topic | quote }}
{{- end }}
- name: LAUREL_OTEL_EXPORTER
  value: {{ .Values.otel.exporter | quote }}
{{- if .Values.otel.endpoint }}
- name: LAUREL_OTEL_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
{{- end }}
{{- end -}}

{{/* The service's own database URL, from the Secret (ctx). */}}
{{- define "laurel.env.database" -}}
- name: LAUREL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ include "laurel.databaseKey" . }}
{{- if .root.Values.database.securityLogInDatabase }}
- name: LAUREL_SECURITY_LOG_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ printf "%s-security" (include "laurel.databaseKey" .) }}
{{- end }}
{{- end -}}

{{/* Files mounted from ConfigMaps and Secrets, as LAUREL_*_FILE (root). */}}
{{- define "laurel.env.files" -}}
{{- if or .Values.campaigns.files .Values.campaigns.existingConfigMap }}
- name: LAUREL_CAMPAIGNS_DIR
  value: /etc/laurel/campaigns
{{- end }}
{{- if .Values.checkpointKey.existingSecret }}
- name: LAUREL_CHECKPOINT_KEY_FILE
  value: {{ printf "/etc/laurel/checkpoint/%s" .Values.checkpointKey.key | quote }}
{{- end }}
{{- if .Values.tls.existingSecret }}
- name: LAUREL_TLS_CERT_FILE
  value: /etc/laurel/tls/tls.crt
- name: LAUREL_TLS_KEY_FILE
  value: /etc/laurel/tls/tls.key
{{- if .Values.tls.ca }}
- name: LAUREL_TLS_CA_FILE
  value: /etc/laurel/tls/ca.crt
{{- end }}
{{- end }}
{{- if .Values.auth.jwks.existingConfigMap }}
- name: LAUREL_AUTH_JWKS_FILE
  value: {{ printf "/etc/laurel/auth/%s" .Values.auth.jwks.key | quote }}
{{- end }}
{{- with .Values.auth.issuer }}
- name: LAUREL_JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.auth.audience }}
- name: LAUREL_JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- if .Values.kafka.tls.existingSecret }}
- name: LAUREL_KAFKA_SSL_CAFILE
  value: /etc/laurel/kafka-tls/ca.crt
{{- if .Values.kafka.tls.clientCertificate }}
- name: LAUREL_KAFKA_SSL_CERTFILE
  value: /etc/laurel/kafka-tls/tls.crt
- name: LAUREL_KAFKA_SSL_KEYFILE
  value: /etc/laurel/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* /tmp is the only writable path (root filesystem is read-only). */}}
{{- define "laurel.volumes.tmp" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ . }}
{{- end -}}

{{- define "laurel.volumes.files" -}}
{{- if or .Values.campaigns.files .Values.campaigns.existingConfigMap }}
- name: campaigns
  configMap:
    name: {{ .Values.campaigns.existingConfigMap | default (include "laurel.resourceName" (dict "root" . "suffix" "campaigns")) }}
{{- end }}
{{- if .Values.checkpointKey.existingSecret }}
- name: checkpoint-key
  secret:
    secretName: {{ .Values.checkpointKey.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.checkpointKey.key }}
        path: {{ .Values.checkpointKey.key }}
{{- end }}
{{- if .Values.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ .Values.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if .Values.auth.jwks.existingConfigMap }}
- name: jwks
  configMap:
    name: {{ .Values.auth.jwks.existingConfigMap }}
    items:
      - key: {{ .Values.auth.jwks.key }}
        path: {{ .Values.auth.jwks.key }}
{{- end }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "laurel.volumeMounts.files" -}}
- name: tmp
  mountPath: /tmp
{{- if or .Values.campaigns.files .Values.campaigns.existingConfigMap }}
- name: campaigns
  mountPath: /etc/laurel/campaigns
  readOnly: true
{{- end }}
{{- if .Values.checkpointKey.existingSecret }}
- name: checkpoint-key
  mountPath: /etc/laurel/checkpoint
  readOnly: true
{{- end }}
{{- if .Values.tls.existingSecret }}
- name: tls
  mountPath: /etc/laurel/tls
  readOnly: true
{{- end }}
{{- if .Values.auth.jwks.existingConfigMap }}
- name: jwks
  mountPath: /etc/laurel/auth
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/laurel/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Container hardening: the same for every container, not configurable. */}}
{{- define "laurel.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod-level fields shared by every Laurel pod (ctx: root, c). */}}
{{- define "laurel.podCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .c.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* A gRPC probe of the service's port; Kubernetes asks grpc.health.v1. */}}
{{- define "laurel.grpcProbe" -}}
grpc:
  port: {{ .port | int }}
{{- toYaml .timing | nindent 0 }}
{{- end -}}

{{/* The pod template of a service's Deployment (ctx). */}}
{{- define "laurel.servicePod" -}}
{{- $root := .root -}}
{{- $c := .c -}}
metadata:
  labels:
    {{- include "laurel.labels" . | nindent 4 }}
    {{- with $c.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/campaigns: {{ toYaml $root.Values.campaigns | sha256sum }}
    {{- with $c.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "laurel.componentName" . }}
  {{- include "laurel.podCommon" . | nindent 2 }}
  terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds | int }}
  {{- with $c.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  containers:
    - name: {{ .name }}
      image: {{ include "laurel.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: ["python", "-m", "laurel.{{ .name }}"]
      ports:
        - name: grpc
          containerPort: {{ $c.grpcPort | int }}
          protocol: TCP
      env:
        - name: LAUREL_GRPC_HOST
          value: 0.0.0.0
        - name: LAUREL_GRPC_PORT
          value: {{ $c.grpcPort | int | quote }}
        {{- include "laurel.env.database" . | nindent 8 }}
        {{- include "laurel.env.common" $root | nindent 8 }}
        {{- with include "laurel.env.files" $root | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- range $name, $value := $c.env }}
        - name: {{ $name }}
          value: {{ $value | quote }}
        {{- end }}
      startupProbe:
        {{- include "laurel.grpcProbe" (dict "port" $c.grpcPort "timing" $c.probes.startup) | nindent 8 }}
      readinessProbe:
        {{- include "laurel.grpcProbe" (dict "port" $c.grpcPort "timing" $c.probes.readiness) | nindent 8 }}
      livenessProbe:
        {{- include "laurel.grpcProbe" (dict "port" $c.grpcPort "timing" $c.probes.liveness) | nindent 8 }}
      resources:
        {{- toYaml $c.resources | nindent 8 }}
      securityContext:
        {{- include "laurel.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        {{- include "laurel.volumeMounts.files" $root | nindent 8 }}
  volumes:
    {{- include "laurel.volumes.tmp" $c.tmpSizeLimit | nindent 4 }}
    {{- with include "laurel.volumes.files" $root | trim }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- with $c.topologySpreadConstraints }}
  {{- $constraints := list }}
  {{- range . }}
  {{- $constraints = append $constraints (merge (dict
      "labelSelector" (dict "matchLabels" (include "laurel.selectorLabels" $ | fromYaml))
      "matchLabelKeys" (list "pod-template-hash")) .) }}
  {{- end }}
  topologySpreadConstraints:
    {{- toYaml $constraints | nindent 4 }}
  {{- end }}
  {{- with $c.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
A one-shot container (migrations, topics, tests) as a pod spec; ctx: root,
name (role label), serviceAccount, containers (YAML list), restartPolicy.
*/}}
{{- define "laurel.toolPodSpec" -}}
serviceAccountName: {{ .serviceAccount }}
{{- include "laurel.podCommon" (dict "root" .root "c" .root.Values.default) | nindent 0 }}
restartPolicy: Never
containers:
  {{- .containers | nindent 2 }}
volumes:
  {{- include "laurel.volumes.tmp" .root.Values.default.tmpSizeLimit | nindent 2 }}
{{- end -}}
