{{/* The chart name, or nameOverride. */}}
{{- define "kjl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of every object: fullnameOverride, else release-chart (the release alone when it holds the chart name). */}}
{{- define "kjl.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "kjl.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kjl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* What selects the release's kjl pods (every role). */}}
{{- define "kjl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kjl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* kjl's own ServiceAccount. */}}
{{- define "kjl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kjl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespace the Jobs run in. */}}
{{- define "kjl.buildNamespace" -}}
{{- default .Release.Namespace .Values.builds.namespace }}
{{- end }}

{{/* The build pods' ServiceAccount (KJL_SERVICE_ACCOUNT). */}}
{{- define "kjl.buildServiceAccountName" -}}
{{- if .Values.builds.serviceAccount.create }}
{{- default (printf "%s-build" (include "kjl.fullname" .)) .Values.builds.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.builds.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with the Redis URL, the API token and the dashboard credentials. */}}
{{- define "kjl.secretName" -}}
{{- default (include "kjl.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The pods' grace period: above the graceful-stop deadline, so that kjl stops on its own. */}}
{{- define "kjl.terminationGracePeriodSeconds" -}}
{{- $deadline := int .Values.config.shutdownTimeoutSeconds }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- if eq $grace 0 }}
{{- add $deadline 15 }}
{{- else if le $grace $deadline }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above config.shutdownTimeoutSeconds (%d): kjl needs that long to stop" $grace $deadline) }}
{{- else }}
{{- $grace }}
{{- end }}
{{- end }}

{{/* The settings kjl reads, as container env (one role: all, intake or worker). */}}
{{- define "kjl.env" -}}
{{- $root := .root }}
{{- $v := $root.Values -}}
- name: KJL_ROLE
  value: {{ .role | quote }}
- name: KJL_NAMESPACE
  value: {{ include "kjl.buildNamespace" $root | quote }}
- name: KJL_SERVICE_ACCOUNT
  value: {{ include "kjl.buildServiceAccountName" $root | quote }}
- name: KJL_TEMPLATES_DIR
  value: /etc/kjl/templates
- name: KJL_TEMPLATES
  value: {{ join "," $v.config.templates | quote }}
- name: KJL_DEFAULT_TEMPLATE
  value: {{ $v.config.defaultTemplate | quote }}
- name: KJL_HTTP_PORT
  value: "8080"
- name: KJL_SHUTDOWN_TIMEOUT_SECONDS
  value: {{ $v.config.shutdownTimeoutSeconds | quote }}
- name: KJL_MAX_CONCURRENT_JOBS
  value: {{ $v.config.maxConcurrentJobs | quote }}
- name: KJL_REDIS_DURABILITY
  value: {{ $v.config.redisDurability | quote }}
- name: KJL_LOG_LEVEL
  value: {{ $v.config.logLevel | quote }}
- name: AWS_REGION
  value: {{ $v.config.awsRegion | quote }}
- name: KJL_BUILD_CONTEXT_BUCKET
  value: {{ $v.config.buildContextBucket | quote }}
- name: KJL_IMAGE_REGISTRY
  value: {{ $v.config.imageRegistry | quote }}
- name: KJL_IMAGE_REPOSITORY
  value: {{ $v.config.imageRepository | quote }}
{{- range $variable, $value := dict "KJL_SQS_QUEUE_URL" $v.config.sqsQueueUrl "KJL_SQS_DLQ_URL" $v.config.sqsDlqUrl "KJL_SQS_ENDPOINT" $v.config.sqsEndpoint "KJL_EVENTS_SINK" $v.config.eventsSink "KJL_PRIORITY_CLASS" $v.builds.priorityClassName "KJL_RUNTIME_CLASS" $v.builds.runtimeClassName }}
{{- if $value }}
- name: {{ $variable }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
{{- with $v.builds.nodeSelector }}
- name: KJL_NODE_SELECTOR
  value: {{ include "kjl.pairs" . | quote }}
{{- end }}
{{- with $v.builds.tolerations }}
- name: KJL_TOLERATIONS
  value: {{ toJson . | quote }}
{{- end }}
{{- with $v.builds.imagePullSecrets }}
- name: KJL_IMAGE_PULL_SECRETS
  value: {{ join "," . | quote }}
{{- end }}
- name: KJL_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "kjl.secretName" $root }}
      key: redis-url
{{- range $variable, $key := dict "KJL_API_TOKEN" "api-token" "KJL_DASHBOARD_USER" "dashboard-user" "KJL_DASHBOARD_PASSWORD" "dashboard-password" }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ include "kjl.secretName" $root }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- range $variable, $value := $v.extraEnv }}
- name: {{ $variable }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* A map as `key=value,…` (sorted by key). */}}
{{- define "kjl.pairs" -}}
{{- $pairs := list }}
{{- range $key, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* The Deployments, as JSON {"roles":[{role, name, replicas}]}: one (role all), or intake and worker. */}}
{{- define "kjl.roles" -}}
{{- $fullname := include "kjl.fullname" . }}
{{- if .Values.split.enabled }}
{{- toJson (dict "roles" (list (dict "role" "intake" "name" (printf "%s-intake" $fullname) "replicas" .Values.split.intakeReplicas) (dict "role" "worker" "name" (printf "%s-worker" $fullname) "replicas" .Values.split.workerReplicas))) }}
{{- else }}
{{- toJson (dict "roles" (list (dict "role" "all" "name" $fullname "replicas" .Values.replicas))) }}
{{- end }}
{{- end }}

{{/* The Job templates of the ConfigMap: jobTemplates, else the bundled ones (files/templates/). */}}
{{- define "kjl.jobTemplates" -}}
{{- $templates := dict }}
{{- if .Values.jobTemplates }}
{{- range $name, $text := .Values.jobTemplates }}
{{- $_ := set $templates (printf "%s.yaml" $name) $text }}
{{- end }}
{{- else }}
{{- range $path, $_ := .Files.Glob "files/templates/*.yaml" }}
{{- $_ := set $templates (base $path) ($.Files.Get $path) }}
{{- end }}
{{- end }}
{{- range .Values.config.templates }}
{{- if not (hasKey $templates (printf "%s.yaml" .)) }}
{{- fail (printf "config.templates names %q, but jobTemplates has no such template (it has: %s)" . (keys $templates | sortAlpha | join ", ")) }}
{{- end }}
{{- end }}
{{- if not (has .Values.config.defaultTemplate .Values.config.templates) }}
{{- fail (printf "config.defaultTemplate %q must be one of config.templates (%s)" .Values.config.defaultTemplate (join ", " .Values.config.templates)) }}
{{- end }}
{{- toJson $templates }}
{{- end }}
