{{/* Name of the chart, overridable. */}}
{{- define "drmysql.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Base name of every object: the release name, plus the chart name unless the release already contains it. */}}
{{- define "drmysql.fullname" -}}
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

{{/* Name of one component's objects: fullname-component, within 63 characters. */}}
{{- define "drmysql.componentName" -}}
{{- printf "%s-%s" (include "drmysql.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "drmysql.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "drmysql.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component's objects (root, component). */}}
{{- define "drmysql.componentLabels" -}}
{{ include "drmysql.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector labels of one component's Pods (root, component). */}}
{{- define "drmysql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drmysql.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The drmysql image reference. */}}
{{- define "drmysql.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The sidecar image the controller puts in instance Pods. */}}
{{- define "drmysql.sidecarImage" -}}
{{- $sidecar := .Values.controller.sidecarImage }}
{{- printf "%s:%s" (default .Values.image.repository $sidecar.repository) (default (default .Chart.AppVersion .Values.image.tag) $sidecar.tag) }}
{{- end }}

{{/* The Secret holding the IPsec PSK in the host cluster. */}}
{{- define "drmysql.ipsecSecretName" -}}
{{- default (include "drmysql.componentName" (dict "root" . "component" "ipsec-psk")) .Values.clusterlink.ipsec.existingSecret }}
{{- end }}

{{/* Name of the controller's metrics Service, which is also its scrape job. */}}
{{- define "drmysql.controllerJob" -}}
{{- default (include "drmysql.componentName" (dict "root" . "component" "controller")) .Values.prometheusRule.controllerJob }}
{{- end }}

{{/* Whether this release runs the host-cluster side of clusterlink. */}}
{{- define "drmysql.clusterlinkHost" -}}
{{- if and .Values.clusterlink.enabled (eq .Values.clusterlink.role "host") }}true{{ end }}
{{- end }}

{{/* Pod security context shared by the controller, network manager and discovery. */}}
{{- define "drmysql.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container security context of the same. */}}
{{- define "drmysql.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* Environment every component gets: logging, and who and where it is. */}}
{{- define "drmysql.commonEnv" -}}
- name: DRMYSQL_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: DRMYSQL_LOG
  value: {{ .Values.logLevel | quote }}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}

{{/* Fails the render on values that contradict each other. */}}
{{- define "drmysql.validate" -}}
{{- $c := .Values.controller }}
{{- if and $c.enabled (not $c.leaderElection.enabled) (gt (int $c.replicas) 1) }}
{{- fail "controller.replicas must be 1 when controller.leaderElection.enabled is false: two replicas without the Lease would both reconcile" }}
{{- end }}
{{- if and $c.leaderElection.enabled (le (int $c.leaderElection.leaseSeconds) (int $c.leaderElection.renewGraceSeconds)) }}
{{- fail "controller.leaderElection.leaseSeconds must exceed controller.leaderElection.renewGraceSeconds" }}
{{- end }}
{{- $cl := .Values.clusterlink }}
{{- if $cl.enabled }}
{{- if not $cl.clusterName }}
{{- fail "clusterlink.clusterName is required when clusterlink.enabled: the name of this cluster's Cluster object in the host cluster" }}
{{- end }}
{{- if and (eq $cl.role "member") (not $cl.hostKubeconfig.secretName) }}
{{- fail "clusterlink.hostKubeconfig.secretName is required when clusterlink.role is member: discovery and the agents write to the host cluster through it" }}
{{- end }}
{{- if gt (int $cl.networkManager.debounceMs) (int $cl.networkManager.maxDelayMs) }}
{{- fail "clusterlink.networkManager.debounceMs must not exceed clusterlink.networkManager.maxDelayMs" }}
{{- end }}
{{- end }}
{{- end }}
