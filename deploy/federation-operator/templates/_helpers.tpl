{{/* Chart name, truncated to a DNS label. */}}
{{- define "federation-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name already contains it. */}}
{{- define "federation-operator.fullname" -}}
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

{{- define "federation-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "federation-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "federation-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "federation-operator.labels" -}}
helm.sh/chart: {{ include "federation-operator.chart" . }}
{{ include "federation-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "federation-operator.serviceAccountName" -}}
{{- default (include "federation-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The Lease the replicas elect their active one with (the operator's default name for it). */}}
{{- define "federation-operator.leaseName" -}}
{{- printf "federation-operator-%s" .Values.federationName }}
{{- end }}

{{/* FEDOP_DNS_CREDENTIALS_SECRET as namespace/name; empty when no Secret is named. */}}
{{- define "federation-operator.dnsCredentialsSecret" -}}
{{- with .Values.dns.credentialsSecret.name }}
{{- printf "%s/%s" (default $.Release.Namespace $.Values.dns.credentialsSecret.namespace) . }}
{{- end }}
{{- end }}

{{/* FEDOP_DNS_OPTIONS: the options map as a JSON object of strings (the operator's settings type). */}}
{{- define "federation-operator.dnsOptions" -}}
{{- $options := dict }}
{{- range $key, $value := .Values.dns.options }}
{{- $_ := set $options $key (toString $value) }}
{{- end }}
{{- toJson $options }}
{{- end }}

{{/* FEDOP_DNS_ZONES: dns.zones as the operator's JSON list: option values as strings, each credentials
Secret as <release namespace>/<name> (the operator may read Secrets only there). */}}
{{- define "federation-operator.dnsZones" -}}
{{- $zones := list }}
{{- range .Values.dns.zones }}
{{- $options := dict }}
{{- range $key, $value := (.options | default dict) }}
{{- $_ := set $options $key (toString $value) }}
{{- end }}
{{- $zone := dict "zone" .zone "provider" .provider "options" $options }}
{{- with .credentialsSecret }}
{{- $_ := set $zone "credentialsSecret" (printf "%s/%s" $.Release.Namespace .) }}
{{- end }}
{{- with .mirror }}
{{- $_ := set $zone "mirror" . }}
{{- end }}
{{- $zones = append $zones $zone }}
{{- end }}
{{- toJson $zones }}
{{- end }}

{{/* Refuse values that would install something broken or less safe than it looks. */}}
{{- define "federation-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without it every replica would be an active writer" }}
{{- end }}
{{- if and .Values.dns.provider (not .Values.dns.zone) }}
{{- fail "dns.zone is required when dns.provider is set" }}
{{- end }}
{{- range $index, $zone := .Values.dns.zones }}
{{- if not (and $zone.zone $zone.provider) }}
{{- fail (printf "dns.zones[%d] needs zone and provider" $index) }}
{{- end }}
{{- end }}
{{- if and .Values.dns.credentialsSecret.name .Values.dns.credentialsSecret.namespace (ne .Values.dns.credentialsSecret.namespace .Release.Namespace) }}
{{- fail (printf "dns.credentialsSecret.namespace must be the release namespace (%s): the operator may read Secrets only there" .Release.Namespace) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled=true" }}
{{- end }}
{{- if and .Values.metrics.prometheusRule.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.prometheusRule.enabled needs metrics.enabled=true" }}
{{- end }}
{{- if and .Values.metrics.dashboard.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.dashboard.enabled needs metrics.enabled=true" }}
{{- end }}
{{- end }}

{{/* The series of this release's operator, as Prometheus scrapes them through the metrics Service (a
ServiceMonitor names a target's job after its Service). */}}
{{- define "federation-operator.metricsSelector" -}}
job="{{ include "federation-operator.fullname" . }}-metrics",namespace="{{ .Release.Namespace }}"
{{- end }}
