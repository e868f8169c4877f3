{{/*
Pod parts shared by the services, the hook Jobs, the checkpoint CronJob and
the test pod: settings as environment, mounted files, probes, and the
security context nobody can loosen.

Settings and files come in features, so that each pod gets only what it
uses (the checkpoint key reaches audit and its CronJob, nothing else):
  otel campaigns grpcTls auth kafka smtp stores checkpointKey catchup
*/}}

{{/* The features a component's pod uses (ctx: root, name, c, f). */}}
{{- define "laurel.podFeatures" -}}
{{- $features := list "otel" "campaigns" "grpcTls" "auth" -}}
{{- if .f.kafka }}{{ $features = append $features "kafka" }}{{ end -}}
{{- if .f.smtp }}{{ $features = append $features "smtp" }}{{ end -}}
{{- if .f.readsStores }}{{ $features = append $features "stores" }}{{ end -}}
{{- if .f.signs }}{{ $features = append $features "checkpointKey" }}{{ end -}}
{{- if .f.upstreams }}{{ $features = append $features "catchup" }}{{ end -}}
{{- toYaml $features -}}
{{- end -}}

{{/*
Every file the chart can mount, with the feature it belongs to (root):
a list of {feature, name, mountPath, volume}. Only what values switch on.
defaultMode 288 is 0440: readable by the pod's group, which fsGroup sets.
*/}}
{{- define "laurel.fileMounts" -}}
{{- $v := .Values -}}
{{- if or $v.campaigns.files $v.campaigns.existingConfigMap }}
- feature: campaigns
  name: campaigns
  mountPath: /etc/laurel/campaigns
  volume:
    configMap:
      name: {{ $v.campaigns.existingConfigMap | default (include "laurel.resourceName" (dict "root" . "suffix" "campaigns")) }}
{{- end }}
{{- if $v.checkpointKey.existingSecret }}
- feature: checkpointKey
  name: checkpoint-key
  mountPath: /etc/laurel/checkpoint
  volume:
    secret:
      secretName: {{ $v.checkpointKey.existingSecret }}
      defaultMode: 288
      items:
        - key: {{ $v.checkpointKey.key }}
          path: {{ $v.checkpointKey.key }}
{{- end }}
{{- if $v.tls.existingSecret }}
- feature: grpcTls
  name: tls
  mountPath: /etc/laurel/tls
  volume:
    secret:
      secretName: {{ $v.tls.existingSecret }}
      defaultMode: 288
      items:
        - {key: tls.crt, path: tls.crt}
        - {key: tls.key, path: tls.key}
        - {key: ca.crt, path: ca.crt}
{{- end }}
{{- if $v.auth.jwks.existingConfigMap }}
- feature: auth
  name: jwks
  mountPath: /etc/laurel/auth
  volume:
    configMap:
      name: {{ $v.auth.jwks.existingConfigMap }}
      items:
        - key: {{ $v.auth.jwks.key }}
          path: {{ $v.auth.jwks.key }}
{{- end }}
{{- if $v.kafka.tls.existingSecret }}
- feature: kafka
  name: kafka-tls
  mountPath: /etc/laurel/kafka-tls
  volume:
    secret:
      secretName: {{ $v.kafka.tls.existingSecret }}
      defaultMode: 288
      items:
        - {key: ca.crt, path: ca.crt}
        {{- if $v.kafka.tls.clientCertificate }}
        - {key: tls.crt, path: tls.crt}
        - {key: tls.key, path: tls.key}
        {{- end }}
{{- end }}
{{- if $v.kafka.sasl.existingSecret }}
- feature: kafka
  name: kafka-sasl
  mountPath: /etc/laurel/kafka-sasl
  volume:
    secret:
      secretName: {{ $v.kafka.sasl.existingSecret }}
      defaultMode: 288
      items:
        - key: {{ $v.kafka.sasl.passwordKey }}
          path: password
{{- end }}
{{- if $v.catchup.token.existingSecret }}
- feature: catchup
  name: catchup-token
  mountPath: /etc/laurel/catchup
  volume:
    secret:
      secretName: {{ $v.catchup.token.existingSecret }}
      defaultMode: 288
      items:
        - key: {{ $v.catchup.token.key }}
          path: token
{{- end }}
{{- if and (eq $v.otel.exporter "otlp") $v.otel.tls.existingSecret }}
- feature: otel
  name: otel-ca
  mountPath: /etc/laurel/otel
  volume:
    secret:
      secretName: {{ $v.otel.tls.existingSecret }}
      defaultMode: 288
      items:
        - key: {{ $v.otel.tls.caKey }}
          path: ca.crt
{{- end }}
{{- end -}}

{{/* The mounts of the given features (root, features). */}}
{{- define "laurel.selectedMounts" -}}
{{- $selected := list -}}
{{- range $mount := include "laurel.fileMounts" .root | fromYamlArray -}}
{{- if has $mount.feature $.features -}}
{{- $selected = append $selected $mount -}}
{{- end -}}
{{- end -}}
{{- toYaml $selected -}}
{{- end -}}

{{/* /tmp (the only writable path) and the features' volumes (root, features, tmpSize). */}}
{{- define "laurel.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .tmpSize }}
{{- range $mount := include "laurel.selectedMounts" . | fromYamlArray }}
- name: {{ $mount.name }}
  {{- toYaml $mount.volume | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "laurel.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- range $mount := include "laurel.selectedMounts" . | fromYamlArray }}
- name: {{ $mount.name }}
  mountPath: {{ $mount.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Settings every Laurel process reads (root). */}}
{{- define "laurel.env.base" -}}
- name: LAUREL_ENV
  value: {{ .Values.environment | quote }}
- name: LAUREL_DATA_DIR
  value: /tmp/laurel
{{- end -}}

{{/* The settings of the given features (root, features). */}}
{{- define "laurel.env.features" -}}
{{- $v := .root.Values -}}
{{- $features := .features -}}
{{- if has "otel" $features }}
- name: LAUREL_OTEL_EXPORTER
  value: {{ $v.otel.exporter | quote }}
{{- if eq $v.otel.exporter "otlp" }}
- name: LAUREL_OTEL_ENDPOINT
  value: {{ $v.otel.endpoint | quote }}
- name: LAUREL_OTEL_INSECURE
  value: {{ $v.otel.insecure | toString | quote }}
{{- if $v.otel.tls.existingSecret }}
- name: LAUREL_OTEL_CA_FILE
  value: /etc/laurel/otel/ca.crt
{{- end }}
{{- end }}
{{- end }}
{{- if has "kafka" $features }}
- name: LAUREL_KAFKA_BOOTSTRAP
  value: {{ $v.kafka.bootstrap | quote }}
- name: LAUREL_KAFKA_SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
- name: LAUREL_KAFKA_GROUP_PREFIX
  value: {{ $v.kafka.groupPrefix | quote }}
- name: LAUREL_KAFKA_BROKER_KIND
  value: {{ $v.kafka.brokerKind | quote }}
- name: LAUREL_TOPIC_PARTITIONS
  value: {{ $v.kafka.topics.partitions | int | quote }}
- name: LAUREL_TOPIC_REPLICATION_FACTOR
  value: {{ $v.kafka.topics.replicationFactor | int | quote }}
{{- range $service, $topic := $v.kafka.topics.names }}
- name: LAUREL_TOPIC_{{ upper $service }}
  value: {{ $topic | quote }}
{{- end }}
{{- if $v.kafka.tls.existingSecret }}
- name: LAUREL_KAFKA_SSL_CAFILE
  value: /etc/laurel/kafka-tls/ca.crt
{{- if $v.kafka.tls.clientCertificate }}
- name: LAUREL_KAFKA_SSL_CERTFILE
  value: /etc/laurel/kafka-tls/tls.crt
- name: LAUREL_KAFKA_SSL_KEYFILE
  value: /etc/laurel/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
- name: LAUREL_KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: LAUREL_KAFKA_SASL_USERNAME
  value: {{ $v.kafka.sasl.username | quote }}
- name: LAUREL_KAFKA_SASL_PASSWORD_FILE
  value: /etc/laurel/kafka-sasl/password
{{- end }}
{{- end }}
{{- if and (has "campaigns" $features) (or $v.campaigns.files $v.campaigns.existingConfigMap) }}
- name: LAUREL_CAMPAIGNS_DIR
  value: /etc/laurel/campaigns
{{- end }}
{{- if has "catchup" $features }}
{{- range $store := include "laurel.storeComponents" .root | fromYamlArray }}
{{- $sc := include "laurel.componentValues" (dict "root" $.root "name" $store) | fromYaml }}
- name: LAUREL_CATCHUP_{{ upper $store }}_ADDRESS
  value: {{ printf "%s:%d" (include "laurel.componentName" (dict "root" $.root "name" $store)) (int $sc.grpcPort) | quote }}
{{- end }}
- name: LAUREL_CATCHUP_INTERVAL_S
  value: {{ $v.catchup.intervalSeconds | toString | quote }}
- name: LAUREL_CATCHUP_GRACE_S
  value: {{ $v.catchup.graceSeconds | toString | quote }}
{{- if $v.catchup.token.existingSecret }}
- name: LAUREL_CATCHUP_TOKEN_FILE
  value: /etc/laurel/catchup/token
{{- end }}
{{- if $v.tls.existingSecret }}
- name: LAUREL_CATCHUP_CA_FILE
  value: /etc/laurel/tls/ca.crt
{{- end }}
{{- end }}
{{- if and (has "checkpointKey" $features) $v.checkpointKey.existingSecret }}
- name: LAUREL_CHECKPOINT_KEY_FILE
  value: {{ printf "/etc/laurel/checkpoint/%s" $v.checkpointKey.key | quote }}
{{- end }}
{{- if and (has "grpcTls" $features) $v.tls.existingSecret }}
- name: LAUREL_TLS_CERT_FILE
  value: /etc/laurel/tls/tls.crt
- name: LAUREL_TLS_KEY_FILE
  value: /etc/laurel/tls/tls.key
{{- if $v.tls.mutual }}
- name: LAUREL_TLS_CA_FILE
  value: /etc/laurel/tls/ca.crt
{{- end }}
{{- end }}
{{- if has "auth" $features }}
{{- if $v.auth.jwks.existingConfigMap }}
- name: LAUREL_AUTH_JWKS_FILE
  value: {{ printf "/etc/laurel/auth/%s" $v.auth.jwks.key | quote }}
{{- end }}
{{- with $v.auth.issuer }}
- name: LAUREL_JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with $v.auth.audience }}
- name: LAUREL_JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if and (has "smtp" $features) $v.smtp.host }}
- name: LAUREL_SMTP_HOST
  value: {{ $v.smtp.host | quote }}
- name: LAUREL_SMTP_PORT
  value: {{ $v.smtp.port | int | quote }}
- name: LAUREL_SMTP_FROM
  value: {{ $v.smtp.from | quote }}
- name: LAUREL_SMTP_STARTTLS
  value: {{ $v.smtp.starttls | toString | quote }}
{{- if $v.smtp.existingSecret }}
- name: LAUREL_SMTP_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $v.smtp.existingSecret }}
      key: {{ $v.smtp.usernameKey }}
- name: LAUREL_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.smtp.existingSecret }}
      key: {{ $v.smtp.passwordKey }}
{{- end }}
{{- end }}
{{- if has "stores" $features }}
{{- range $store := include "laurel.storeComponents" .root | fromYamlArray }}
- name: LAUREL_DATABASE_URL_{{ upper $store }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret }}
      key: {{ include "laurel.databaseKey" (include "laurel.context" (dict "root" $.root "name" $store) | fromYaml) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The component's own store URL, from the Secret (ctx). */}}
{{- define "laurel.env.database" -}}
- name: LAUREL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ include "laurel.databaseKey" . }}
{{- end -}}

{{/* Where refused calls are recorded, when it is a database (ctx). */}}
{{- define "laurel.env.securityLog" -}}
{{- if .root.Values.database.securityLogInDatabase }}
- name: LAUREL_SECURITY_LOG_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ printf "%s-security" (include "laurel.databaseKey" .) }}
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

{{/*
`python -m laurel.healthcheck` speaking TLS with the mounted CA, and the
pod's own certificate for mutual TLS (root, address, service, timeout,
serverName). The probes use it with TLS on; so does the `helm test` pod.
*/}}
{{- define "laurel.healthcheckCommand" -}}
{{- $command := list "python" "-m" "laurel.healthcheck" "--address" .address -}}
{{- with .service }}{{ $command = concat $command (list "--service" .) }}{{ end -}}
{{- with .timeout }}{{ $command = concat $command (list "--timeout" (toString .)) }}{{ end -}}
{{- if include "laurel.tlsOn" .root -}}
{{- $command = concat $command (list "--ca-file" "/etc/laurel/tls/ca.crt") -}}
{{- if .root.Values.tls.mutual -}}
{{- $command = concat $command (list "--cert-file" "/etc/laurel/tls/tls.crt" "--key-file" "/etc/laurel/tls/tls.key") -}}
{{- end -}}
{{- with .serverName }}{{ $command = concat $command (list "--server-name" .) }}{{ end -}}
{{- end -}}
{{- toYaml $command -}}
{{- end -}}

{{/*
One probe (ctx + timing, service): a built-in gRPC probe in plaintext, an
exec of laurel.healthcheck with TLS on. An empty service asks about the
server as a whole (liveness, startup); the service name asks whether the
service is ready (its database and broker answer).
*/}}
{{- define "laurel.probe" -}}
{{- $port := .ctx.c.grpcPort | int -}}
{{- if include "laurel.tlsOn" .ctx.root -}}
exec:
  command:
    {{- include "laurel.healthcheckCommand" (dict
        "root" .ctx.root
        "address" (printf "127.0.0.1:%d" $port)
        "service" .service
        "timeout" (max 1 (sub (int (.timing.timeoutSeconds | default 1)) 1))
        "serverName" (include "laurel.componentName" .ctx)) | nindent 4 }}
{{- else -}}
grpc:
  port: {{ $port }}
  {{- with .service }}
  service: {{ . }}
  {{- end }}
{{- end }}
{{- toYaml .timing | nindent 0 }}
{{- end -}}

{{/* The pod template of a component's Deployment (ctx). */}}
{{- define "laurel.servicePod" -}}
{{- $root := .root -}}
{{- $c := .c -}}
{{- $features := include "laurel.podFeatures" . | fromYamlArray -}}
metadata:
  labels:
    {{- include "laurel.labels" . | nindent 4 }}
    {{- with $c.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/campaigns: {{ toYaml $root.Values.campaigns | sha256sum }}
    {{- if $root.Values.metrics.podAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $c.metricsPort | int | quote }}
    prometheus.io/path: /metrics
    {{- end }}
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
      command:
        {{- toYaml .f.command | nindent 8 }}
      ports:
        - name: grpc
          containerPort: {{ $c.grpcPort | int }}
          protocol: TCP
        - name: metrics
          containerPort: {{ $c.metricsPort | int }}
          protocol: TCP
      env:
        - name: LAUREL_GRPC_HOST
          value: 0.0.0.0
        - name: {{ .f.portSetting }}
          value: {{ $c.grpcPort | int | quote }}
        - name: LAUREL_METRICS_PORT
          value: {{ $c.metricsPort | int | quote }}
        {{- if .f.store }}
        {{- include "laurel.env.database" . | nindent 8 }}
        {{- end }}
        {{- with include "laurel.env.securityLog" . | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- include "laurel.env.base" $root | nindent 8 }}
        {{- with include "laurel.env.features" (dict "root" $root "features" $features) | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- range $name, $value := $c.env }}
        - name: {{ $name }}
          value: {{ $value | quote }}
        {{- end }}
      startupProbe:
        {{- include "laurel.probe" (dict "ctx" . "timing" $c.probes.startup "service" "") | nindent 8 }}
      readinessProbe:
        {{- include "laurel.probe" (dict "ctx" . "timing" $c.probes.readiness "service" .f.healthService) | nindent 8 }}
      livenessProbe:
        {{- include "laurel.probe" (dict "ctx" . "timing" $c.probes.liveness "service" "") | nindent 8 }}
      resources:
        {{- toYaml $c.resources | nindent 8 }}
      securityContext:
        {{- include "laurel.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        {{- include "laurel.volumeMounts" (dict "root" $root "features" $features) | nindent 8 }}
  volumes:
    {{- include "laurel.volumes" (dict "root" $root "features" $features "tmpSize" $c.tmpSizeLimit) | nindent 4 }}
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
A one-shot pod spec (migrations, topics, checkpoints, tests); ctx: root,
serviceAccount, containers (YAML list), features (their volumes), c
(settings for the pod security context; default: `default`).
*/}}
{{- define "laurel.toolPodSpec" -}}
{{- $c := .c | default .root.Values.default -}}
serviceAccountName: {{ .serviceAccount }}
{{- include "laurel.podCommon" (dict "root" .root "c" $c) | nindent 0 }}
restartPolicy: Never
containers:
  {{- .containers | nindent 2 }}
volumes:
  {{- include "laurel.volumes" (dict "root" .root "features" (.features | default list) "tmpSize" $c.tmpSizeLimit) | nindent 2 }}
{{- end -}}
