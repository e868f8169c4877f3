{{/*
The objects of one service (ctx: root, name, c). templates/component.yaml
renders them for every enabled entry of `components`.
*/}}

{{- define "laurel.metadata" -}}
name: {{ include "laurel.componentName" . }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "laurel.labels" . | nindent 2 }}
{{- end -}}

{{- define "laurel.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "laurel.metadata" . | nindent 2 }}
# Laurel never calls the Kubernetes API.
automountServiceAccountToken: false
{{- end -}}

{{- define "laurel.service" -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "laurel.metadata" . | nindent 2 }}
spec:
  type: ClusterIP
  selector:
    {{- include "laurel.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ .c.grpcPort | int }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ .c.metricsPort | int }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- end -}}

{{- define "laurel.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "laurel.metadata" . | nindent 2 }}
spec:
  {{- if not .c.autoscaling.enabled }}
  replicas: {{ .c.replicas | int }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "laurel.selectorLabels" . | nindent 6 }}
  template:
    {{- include "laurel.servicePod" . | nindent 4 }}
{{- end -}}

{{- define "laurel.podDisruptionBudget" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "laurel.metadata" . | nindent 2 }}
spec:
  {{- if hasKey .c.podDisruptionBudget "minAvailable" }}
  minAvailable: {{ .c.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .c.podDisruptionBudget.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "laurel.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "laurel.horizontalPodAutoscaler" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "laurel.metadata" . | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "laurel.componentName" . }}
  minReplicas: {{ .c.autoscaling.minReplicas | int }}
  maxReplicas: {{ .c.autoscaling.maxReplicas | int }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .c.autoscaling.targetCPUUtilizationPercentage | int }}
{{- end -}}

{{/* An egress rule to a dependency: {peers, ports} from values. */}}
{{- define "laurel.egressRule" -}}
{{- $ports := list -}}
{{- range $port := .target.ports -}}
{{- range $protocol := $.protocols -}}
{{- $ports = append $ports (dict "port" (int $port) "protocol" $protocol) -}}
{{- end -}}
{{- end -}}
{{- $rule := dict "ports" $ports -}}
{{- with .target.peers -}}
{{- $_ := set $rule "to" . -}}
{{- end -}}
{{- toYaml (list $rule) -}}
{{- end -}}

{{/*
Egress to the dependencies a pod uses (root, kafka, smtp): DNS, the
databases, the OTLP collector when traces go there, Kafka and the SMTP
relay when asked.
*/}}
{{- define "laurel.egress.backends" -}}
{{- $v := .root.Values -}}
{{- include "laurel.egressRule" (dict "target" $v.networkPolicy.dns "protocols" (list "UDP" "TCP")) }}
{{ include "laurel.egressRule" (dict "target" $v.database.networkPolicy "protocols" (list "TCP")) }}
{{- if .kafka }}
{{ include "laurel.egressRule" (dict "target" $v.kafka.networkPolicy "protocols" (list "TCP")) }}
{{- end }}
{{- if eq $v.otel.exporter "otlp" }}
{{ include "laurel.egressRule" (dict "target" $v.otel.networkPolicy "protocols" (list "TCP")) }}
{{- end }}
{{- if and .smtp $v.smtp.host }}
{{ include "laurel.egressRule" (dict "target" (dict "peers" $v.smtp.networkPolicy.peers "ports" (list $v.smtp.port)) "protocols" (list "TCP")) }}
{{- end }}
{{- end -}}

{{- define "laurel.networkPolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "laurel.metadata" . | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- include "laurel.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    # The gRPC port, only from this release's pods and the listed peers.
    - ports:
        - port: {{ .c.grpcPort | int }}
          protocol: TCP
      from:
        - podSelector:
            matchLabels:
              {{- include "laurel.releaseSelector" .root | nindent 14 }}
        {{- with .root.Values.networkPolicy.ingressFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    # The metrics port, from the scrapers (any source when none are named).
    - ports:
        - port: {{ .c.metricsPort | int }}
          protocol: TCP
      {{- with .root.Values.metrics.scrapers }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  egress:
    {{- include "laurel.egress.backends" (dict "root" .root "kafka" .f.kafka "smtp" .f.smtp) | nindent 4 }}
    {{- with .f.upstreams }}
    # The upstreams' gRPC ports: their published logs (catch-up).
    {{- $ports := list }}
    {{- range $upstream := . }}
    {{- $uc := include "laurel.componentValues" (dict "root" $.root "name" $upstream) | fromYaml }}
    {{- $ports = append $ports (int $uc.grpcPort) }}
    {{- end }}
    - ports:
        {{- range $port := $ports | uniq }}
        - port: {{ $port }}
          protocol: TCP
        {{- end }}
      to:
        - podSelector:
            matchLabels:
              {{- include "laurel.releaseSelector" $.root | nindent 14 }}
    {{- end }}
    {{- with .c.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
A container that runs one command to completion (root, name, command,
env (YAML), features, resources). It gets the base settings, the features'
settings and files, and `env`.
*/}}
{{- define "laurel.toolContainer" -}}
{{- $features := .features | default list -}}
- name: {{ .name }}
  image: {{ include "laurel.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command:
    {{- toYaml .command | nindent 4 }}
  {{- if not .withoutSettings }}
  env:
    {{- with .env }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- include "laurel.env.base" .root | nindent 4 }}
    {{- with include "laurel.env.features" (dict "root" .root "features" $features) | trim }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- end }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- include "laurel.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    {{- include "laurel.volumeMounts" (dict "root" .root "features" $features) | nindent 4 }}
{{- end -}}

{{/* Hook annotations of the pre-install/pre-upgrade Jobs and their helpers. */}}
{{- define "laurel.hookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}

{{- define "laurel.hookJob" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "laurel.resourceName" (dict "root" .root "suffix" .suffix) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "laurel.labels" (dict "root" .root "name" "hook") | nindent 4 }}
    laurel.io/task: {{ .suffix }}
  annotations:
    {{- include "laurel.hookAnnotations" (dict "weight" 0) | nindent 4 }}
spec:
  backoffLimit: {{ .root.Values.migrations.backoffLimit | int }}
  activeDeadlineSeconds: {{ .root.Values.migrations.activeDeadlineSeconds | int }}
  template:
    metadata:
      labels:
        {{- include "laurel.labels" (dict "root" .root "name" "hook") | nindent 8 }}
        laurel.io/task: {{ .suffix }}
    spec:
      {{- include "laurel.toolPodSpec" (dict "root" .root "serviceAccount" (include "laurel.resourceName" (dict "root" .root "suffix" "hooks")) "containers" .containers "features" .features) | nindent 6 }}
{{- end -}}

{{/*
`laurel migrate --service <name>` before the new code runs (ctx). The
command name is stable: it creates the store's tables today and runs its
Alembic migrations once they exist.
*/}}
{{- define "laurel.migrationJob" -}}
{{- $containers := include "laurel.toolContainer" (dict
    "root" .root
    "name" "migrate"
    "command" (list "laurel" "migrate" "--service" .name)
    "env" (include "laurel.env.database" .)
    "resources" .root.Values.migrations.resources) -}}
{{- include "laurel.hookJob" (dict "root" .root "suffix" (printf "migrate-%s" .name) "containers" $containers) -}}
{{- end -}}
