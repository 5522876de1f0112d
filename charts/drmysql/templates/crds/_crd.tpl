{{/*
One CRD from files/crds (a byte-for-byte copy of the repository's crds/,
which a test keeps equal), with the chart's labels and
`helm.sh/resource-policy: keep` added to its metadata. Text is inserted
rather than the YAML re-encoded, so the schema reaches the API server exactly
as generated.
*/}}
{{- define "drmysql.crd" -}}
{{- $root := .root }}
{{- $meta := printf "\nmetadata:\n  annotations:\n    helm.sh/resource-policy: keep\n  labels:\n%s\n" (include "drmysql.labels" $root | indent 4) }}
{{- $root.Files.Get (printf "files/crds/%s" .file) | replace "\nmetadata:\n" $meta }}
{{- end }}
