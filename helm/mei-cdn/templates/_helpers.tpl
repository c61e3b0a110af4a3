{{/*
Names. The release's full name prefixes every object; the cache nodes' pods are
<fullname>-cache-0, -1, ..., and their names are the node ids that plans use.
*/}}
{{- define "mei-cdn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mei-cdn.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mei-cdn.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mei-cdn.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mei-cdn
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "origin"). */}}
{{- define "mei-cdn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mei-cdn.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "mei-cdn.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "mei-cdn.originName" -}}
{{- printf "%s-origin" (include "mei-cdn.fullname" .) }}
{{- end }}

{{- define "mei-cdn.cacheName" -}}
{{- printf "%s-cache" (include "mei-cdn.fullname" .) }}
{{- end }}

{{/* The headless Service that gives each cache node a stable DNS name for its peers. */}}
{{- define "mei-cdn.peersName" -}}
{{- printf "%s-cache-peers" (include "mei-cdn.fullname" .) }}
{{- end }}

{{- define "mei-cdn.originUrl" -}}
{{- printf "http://%s.%s.svc.%s:%d" (include "mei-cdn.originName" .) .Release.Namespace .Values.clusterDomain (int .Values.origin.port) }}
{{- end }}

{{/* A cache node's host name through the headless Service: (dict "root" $ "index" 0). */}}
{{- define "mei-cdn.nodeHost" -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "mei-cdn.cacheName" .root) (int .index) (include "mei-cdn.peersName" .root) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* The admin token: the Secret that holds it, and its key there. */}}
{{- define "mei-cdn.tokenSecretName" -}}
{{- .Values.adminToken.existingSecret | default (printf "%s-admin-token" (include "mei-cdn.fullname" .)) }}
{{- end }}

{{- define "mei-cdn.tokenSecretKey" -}}
{{- if .Values.adminToken.existingSecret }}
{{- .Values.adminToken.existingSecretKey | default "token" }}
{{- else }}
{{- "token" }}
{{- end }}
{{- end }}

{{/* Where every container finds the token: a file, never a flag value or an environment variable. */}}
{{- define "mei-cdn.tokenDir" -}}/etc/mei-cdn/admin{{- end }}
{{- define "mei-cdn.tokenFile" -}}/etc/mei-cdn/admin/token{{- end }}

{{- define "mei-cdn.tokenVolume" -}}
- name: admin-token
  secret:
    secretName: {{ include "mei-cdn.tokenSecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ include "mei-cdn.tokenSecretKey" . }}
        path: token
{{- end }}

{{- define "mei-cdn.tokenMount" -}}
- name: admin-token
  mountPath: {{ include "mei-cdn.tokenDir" . }}
  readOnly: true
{{- end }}

{{/*
A byte size as mei-cache-node --capacity reads it (common/byte_size.h): a whole number with an
optional unit B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB or K/M/G/T (powers of 1024).
(dict "value" "20GiB" "what" "cache.capacity") -> 21474836480.
*/}}
{{- define "mei-cdn.bytes" -}}
{{- $text := toString .value | trim }}
{{- if not (regexMatch "^[0-9]+(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|K|M|G|T)?$" $text) }}
{{- fail (printf "%s is %q: give a whole number of bytes with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, K, M, G or T" .what $text) }}
{{- end }}
{{- $units := dict "" 1 "B" 1 "KB" 1000 "MB" 1000000 "GB" 1000000000 "TB" 1000000000000 "KiB" 1024 "MiB" 1048576 "GiB" 1073741824 "TiB" 1099511627776 "K" 1024 "M" 1048576 "G" 1073741824 "T" 1099511627776 }}
{{- mul (regexFind "^[0-9]+" $text | int64) (get $units (regexFind "[A-Za-z]*$" $text)) }}
{{- end }}

{{/* The probes of a data-plane container on its port named "data". */}}
{{- define "mei-cdn.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: data
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: data
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: data
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
{{- end }}
