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

{{/* Release-wide checks that JSON schema cannot express. */}}
{{- define "laurel.validate" -}}
{{- if and (eq .Values.image.tag "latest") (not .Values.image.digest) -}}
{{- fail "image.tag `latest` is refused: `helm rollback` must bring back the same code. Use a version tag or image.digest" -}}
{{- end -}}
{{- if and .Values.campaigns.existingConfigMap .Values.campaigns.files -}}
{{- fail "campaigns.files and campaigns.existingConfigMap are both set: choose one" -}}
{{- end -}}
{{- range $name, $c := .Values.components -}}
{{- $settings := include "laurel.componentValues" (dict "root" $ "name" $name) | fromYaml -}}
{{- if and $settings.autoscaling.enabled (gt (int $settings.autoscaling.minReplicas) (int $settings.autoscaling.maxReplicas)) -}}
{{- fail (printf "components.%s: autoscaling.minReplicas (%d) is above maxReplicas (%d)" $name (int $settings.autoscaling.minReplicas) (int $settings.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
