{{/*
The labels of every object of the chart. The selector is app.kubernetes.io/name alone, as in the
plain manifests (deploy/operator), so that an install moved from them to the chart keeps its
Deployment's (immutable) selector.
*/}}
{{- define "tenant-operator.labels" -}}
app.kubernetes.io/name: tenant-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "tenant-operator.selectorLabels" -}}
app.kubernetes.io/name: tenant-operator
{{- end }}

{{/* The user the operator acts as: its service account's. The fence and the shared admission policies name it. */}}
{{- define "tenant-operator.user" -}}
system:serviceaccount:{{ .Release.Namespace }}:tenant-operator
{{- end }}

{{- define "tenant-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/*
A file of the plain manifests (files/ links to deploy/operator), made the release's: its
namespace, the operator's user, Velero's namespace, the Lease's name and the chart's labels (with
the extra labels given). The plain manifests are the one source of these objects; the test
crates/operator/tests/helm.rs renders the chart and compares it with them.
Called with (list $ "files/x.yaml" $extraLabels).
*/}}
{{- define "tenant-operator.file" -}}
{{- $root := index . 0 -}}
{{- $extra := index . 2 -}}
{{- $ns := $root.Release.Namespace -}}
{{- $labels := include "tenant-operator.labels" $root -}}
{{- if $extra }}{{ $labels = printf "%s\n%s" $labels (toYaml $extra) }}{{ end -}}
{{- $text := $root.Files.Get (index . 1) -}}
{{- $text = $text | replace "system:serviceaccount:tenant-system:tenant-operator" (include "tenant-operator.user" $root) -}}
{{- $text = $text | replace "tenant-system/tenant-operator" (printf "%s/tenant-operator" $ns) -}}
{{- $text = $text | replace "namespace: tenant-system\n" (printf "namespace: %s\n" $ns) -}}
{{- $text = $text | replace "'tenant-system'" (printf "'%s'" $ns) -}}
{{- $text = $text | replace "'velero'" (printf "'%s'" $root.Values.config.veleroNamespace) -}}
{{- $text = $text | replace "resourceNames: [\"tenant-operator\"]" (printf "resourceNames: [%q]" $root.Values.config.leaseName) -}}
{{- $text = $text | replace "\n  labels:\n    app.kubernetes.io/name: tenant-operator\n" (printf "\n  labels:\n%s\n" ($labels | indent 4)) -}}
{{- $text -}}
{{- end }}
