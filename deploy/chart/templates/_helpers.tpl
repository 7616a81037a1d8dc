{{/* The chart's name (app.kubernetes.io/name): also the scrape job name the alerts select. */}}
{{- define "dbuser-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name, or release-chart when the release name lacks the chart's. */}}
{{- define "dbuser-operator.fullname" -}}
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

{{/* The pods' selector (as deploy/manager: the name only; one operator per cluster). */}}
{{- define "dbuser-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dbuser-operator.name" . }}
{{- end }}

{{- define "dbuser-operator.labels" -}}
{{ include "dbuser-operator.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "dbuser-operator.serviceAccountName" -}}
{{- default (include "dbuser-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The namespace whose users a namespace-scoped operator manages. */}}
{{- define "dbuser-operator.watchNamespace" -}}
{{- if .Values.watchNamespace }}{{ .Values.watchNamespace }}
{{- else if eq .Values.rbac.scope "namespace" }}{{ .Release.Namespace }}
{{- end }}
{{- end }}
