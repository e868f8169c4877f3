{{/*
Names, labels and the per-service settings. Every per-service template gets a
context built by "laurel.context": {root: $, name: <service>, c: <settings>},
where <settings> is `default` with `components.<service>` merged over it.
*/}}

{{- define "laurel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "laurel.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<suffix>, within the 63 characters of a label value. */}}
{{- define "laurel.resourceName" -}}
{{- printf "%s-%s" (include "laurel.fullname" .root) .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "laurel.componentName" -}}
{{- include "laurel.resourceName" (dict "root" .root "suffix" .name) -}}
{{- end -}}

{{/* Labels on every object; `component` names the service or the role. */}}
{{- define "laurel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "laurel.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: laurel
{{- end -}}

{{- define "laurel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "laurel.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Selects every pod of this release (services, hooks, tests). */}}
{{- define "laurel.releaseSelector" -}}
app.kubernetes.io/name: {{ include "laurel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "laurel.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Deep merge: copies .src into .dst in place. Maps merge key by key; anything
else (lists, false, 0, "") replaces; null removes the key. Sprig's
mergeOverwrite cannot be used: it ignores false and 0 in the source.
*/}}
{{- define "laurel.deepMerge" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- if kindIs "invalid" $value -}}
{{- $_ := unset $dst $key -}}
{{- else if and (kindIs "map" $value) (kindIs "map" (get $dst $key)) -}}
{{- include "laurel.deepMerge" (dict "dst" (get $dst $key) "src" $value) -}}
{{- else -}}
{{- $_ := set $dst $key (deepCopy $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A service's settings as YAML: `default` with its component merged over. */}}
{{- define "laurel.componentValues" -}}
{{- $settings := deepCopy .root.Values.default -}}
{{- include "laurel.deepMerge" (dict "dst" $settings "src" (default (dict) (index .root.Values.components .name))) -}}
{{- toYaml $settings -}}
{{- end -}}

{{/* Key of the database Secret holding this service's URL. */}}
{{- define "laurel.databaseKey" -}}
{{- default .name .c.databaseSecretKey -}}
{{- end -}}

{{/*
What the chart knows about each component and values cannot change: the
command, the gRPC service its readiness asks about, the setting naming its
port, and what it uses. The schema allows exactly these component names.
  store       its own event store: LAUREL_DATABASE_URL and a migration Job
  kafka       publishes and consumes: Kafka settings, files and egress
  smtp        sends e-mail (notification)
  readsStores every store's URL as LAUREL_DATABASE_URL_<SERVICE> (audit)
  upstreams   the stores it consumes: it reads their published logs over gRPC
              (LAUREL_CATCHUP_*), so its pods may reach theirs
  signs       holds the checkpoint signing key (audit)
*/}}
{{- define "laurel.builtins" -}}
intake:
  command: [python, -m, laurel.intake]
  healthService: laurel.intake.v1.IntakeService
  portSetting: LAUREL_GRPC_PORT
  store: true
  kafka: true
scoring:
  command: [python, -m, laurel.scoring]
  healthService: laurel.scoring.v1.ScoringService
  portSetting: LAUREL_GRPC_PORT
  store: true
  kafka: true
  upstreams: [intake, review]
review:
  command: [python, -m, laurel.review]
  healthService: laurel.review.v1.ReviewService
  portSetting: LAUREL_GRPC_PORT
  store: true
  kafka: true
  upstreams: [intake, scoring]
notification:
  command: [python, -m, laurel.notification]
  healthService: laurel.notification.v1.NotificationService
  portSetting: LAUREL_GRPC_PORT
  store: true
  kafka: true
  upstreams: [intake, scoring, review]
  smtp: true
audit:
  command: [python, -m, laurel.audit, serve]
  healthService: laurel.audit.v1.AuditService
  portSetting: LAUREL_AUDIT_GRPC_PORT
  readsStores: true
  signs: true
{{- end -}}

{{/* The per-component context: {root, name, c (settings), f (builtins)}. */}}
{{- define "laurel.context" -}}
{{- $c := include "laurel.componentValues" (dict "root" .root "name" .name) | fromYaml -}}
{{- $f := get (include "laurel.builtins" . | fromYaml) .name -}}
{{- toYaml (dict "name" .name "c" $c "f" $f) -}}
{{- end -}}

{{/* Enabled components, sorted, as a YAML list of names (root). */}}
{{- define "laurel.enabledComponents" -}}
{{- $names := list -}}
{{- range $name := keys .Values.components | sortAlpha -}}
{{- if (include "laurel.componentValues" (dict "root" $ "name" $name) | fromYaml).enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toYaml $names -}}
{{- end -}}

{{/* The enabled components that own an event store (root). */}}
{{- define "laurel.storeComponents" -}}
{{- $builtins := include "laurel.builtins" . | fromYaml -}}
{{- $names := list -}}
{{- range $name := include "laurel.enabledComponents" . | fromYamlArray -}}
{{- if (get $builtins $name).store -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toYaml $names -}}
{{- end -}}

{{- define "laurel.tlsOn" -}}
{{- if .Values.tls.existingSecret -}}true{{- end -}}
{{- end -}}

{{/*
Seconds between two runs of checkpointJob.schedule: periodSeconds when set,
else read from the simple cron forms (root). Empty when it cannot be told.
*/}}
{{- define "laurel.checkpointPeriod" -}}
{{- $job := .Values.checkpointJob -}}
{{- $s := trim $job.schedule -}}
{{- if $job.periodSeconds -}}
{{- $job.periodSeconds | int -}}
{{- else if has $s (list "@hourly") -}}3600
{{- else if has $s (list "@daily" "@midnight") -}}86400
{{- else if regexMatch `^[0-9]+ \* \* \* \*$` $s -}}3600
{{- else if eq $s "* * * * *" -}}60
{{- else if regexMatch `^\*/[0-9]+ \* \* \* \*$` $s -}}
{{- mul 60 (regexReplaceAll `^\*/([0-9]+) .*$` $s "${1}" | int) -}}
{{- else if regexMatch `^[0-9]+ \*/[0-9]+ \* \* \*$` $s -}}
{{- mul 3600 (regexReplaceAll `^[0-9]+ \*/([0-9]+) .*$` $s "${1}" | int) -}}
{{- else if regexMatch `^[0-9]+ [0-9]+ \* \* \*$` $s -}}86400
{{- end -}}
{{- end -}}

{{/*
Release-wide checks that JSON schema cannot express. Every problem found is
reported at once, each naming the value to set.
*/}}
{{- define "laurel.validate" -}}
{{- $problems := list -}}
{{- if eq .Values.environment "production" -}}
{{- $missing := list -}}
{{- if not .Values.auth.jwks.existingConfigMap -}}
{{- $missing = append $missing "auth.jwks.existingConfigMap" -}}
{{- end -}}
{{- range $key := list "issuer" "audience" -}}
{{- if not (get $.Values.auth $key) -}}
{{- $missing = append $missing (printf "auth.%s" $key) -}}
{{- end -}}
{{- end -}}
{{- if $missing -}}
{{- $problems = append $problems (printf "set %s: with environment production the services verify callers' tokens with the issuer's key set and refuse to start without it (deploy/README.md, Install). For a throwaway cluster only, environment=development accepts unsigned tokens" (join ", " $missing)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.image.tag "latest") (not .Values.image.digest) -}}
{{- $problems = append $problems "image.tag `latest` is refused: `helm rollback` must bring back the same code. Use a version tag or image.digest" -}}
{{- end -}}
{{- if and .Values.campaigns.existingConfigMap .Values.campaigns.files -}}
{{- $problems = append $problems "campaigns.files and campaigns.existingConfigMap are both set: choose one" -}}
{{- end -}}
{{- range $name := keys .Values.components | sortAlpha -}}
{{- $settings := include "laurel.componentValues" (dict "root" $ "name" $name) | fromYaml -}}
{{- if and $settings.autoscaling.enabled (gt (int $settings.autoscaling.minReplicas) (int $settings.autoscaling.maxReplicas)) -}}
{{- $problems = append $problems (printf "components.%s: autoscaling.minReplicas (%d) is above maxReplicas (%d)" $name (int $settings.autoscaling.minReplicas) (int $settings.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if eq (int $settings.grpcPort) (int $settings.metricsPort) -}}
{{- $problems = append $problems (printf "components.%s: grpcPort and metricsPort are both %d: give metrics a port of its own" $name (int $settings.grpcPort)) -}}
{{- end -}}
{{- end -}}
{{- $kafka := .Values.kafka -}}
{{- $sasl := hasPrefix "SASL_" $kafka.securityProtocol -}}
{{- $kafkaTls := has $kafka.securityProtocol (list "SSL" "SASL_SSL") -}}
{{- if and $sasl (not (and $kafka.sasl.username $kafka.sasl.existingSecret)) -}}
{{- $problems = append $problems (printf "kafka.securityProtocol is %s: set kafka.sasl.username and kafka.sasl.existingSecret (the Secret holding the password under kafka.sasl.passwordKey)" $kafka.securityProtocol) -}}
{{- end -}}
{{- if and (not $sasl) $kafka.sasl.existingSecret -}}
{{- $problems = append $problems (printf "kafka.sasl.existingSecret is set but kafka.securityProtocol is %s: use SASL_SSL (or SASL_PLAINTEXT), or clear kafka.sasl.existingSecret" $kafka.securityProtocol) -}}
{{- end -}}
{{- if and (not $kafkaTls) $kafka.tls.existingSecret -}}
{{- $problems = append $problems (printf "kafka.tls.existingSecret is set but kafka.securityProtocol is %s, which does not use TLS: use SSL or SASL_SSL" $kafka.securityProtocol) -}}
{{- end -}}
{{- if and $kafka.tls.clientCertificate (not $kafka.tls.existingSecret) -}}
{{- $problems = append $problems "kafka.tls.clientCertificate needs kafka.tls.existingSecret (holding ca.crt, tls.crt and tls.key)" -}}
{{- end -}}
{{- if and .Values.tls.mutual (not .Values.tls.existingSecret) -}}
{{- $problems = append $problems "tls.mutual needs tls.existingSecret (holding tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if and .Values.otel.insecure .Values.otel.tls.existingSecret -}}
{{- $problems = append $problems "otel.insecure is true and otel.tls.existingSecret is set: plaintext export uses no CA; choose one" -}}
{{- end -}}
{{- if and .Values.smtp.existingSecret (not .Values.smtp.host) -}}
{{- $problems = append $problems "smtp.existingSecret is set but smtp.host is empty, so no e-mail is sent: set smtp.host (and smtp.from)" -}}
{{- end -}}
{{- if and .Values.smtp.host (not (contains "@" .Values.smtp.from)) -}}
{{- $problems = append $problems "smtp.host is set: set smtp.from to the sender's e-mail address (LAUREL_SMTP_FROM)" -}}
{{- end -}}
{{- $audit := include "laurel.componentValues" (dict "root" . "name" "audit") | fromYaml -}}
{{- if and .Values.checkpointJob.enabled $audit.enabled -}}
{{- if not .Values.checkpointKey.existingSecret -}}
{{- $problems = append $problems "checkpointJob.enabled: set checkpointKey.existingSecret to the Secret holding the audit signing key (deploy/README.md, Before you install), or set checkpointJob.enabled=false" -}}
{{- end -}}
{{- if not (include "laurel.checkpointPeriod" .) -}}
{{- $problems = append $problems (printf "checkpointJob.schedule %q: set checkpointJob.periodSeconds to the seconds between two runs (the checkpoint-overdue alert needs it)" .Values.checkpointJob.schedule) -}}
{{- end -}}
{{- end -}}
{{- if eq (len $problems) 1 -}}
{{- fail (first $problems) -}}
{{- else if $problems -}}
{{- fail (printf "the values need %d changes:\n  - %s" (len $problems) (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}
