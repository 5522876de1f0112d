{{/* RBAC rules of drmysql_clusterlink::permissions::AGENT_HOST. */}}
{{- define "drmysql.agentHostRules" -}}
- apiGroups: ["kosmos.io"]
  resources: ["nodeconfigs"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kosmos.io"]
  resources: ["nodeconfigs/status"]
  verbs: ["patch"]
- apiGroups: ["kosmos.io"]
  resources: ["clusters"]
  verbs: ["get", "list", "watch"]
# The underlay is written by server-side apply, which may create.
- apiGroups: ["kosmos.io"]
  resources: ["clusternodes"]
  verbs: ["get", "create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* RBAC rules of drmysql_clusterlink::permissions::DISCOVERY_HOST. */}}
{{- define "drmysql.discoveryHostRules" -}}
- apiGroups: ["kosmos.io"]
  resources: ["clusters"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["kosmos.io"]
  resources: ["clusternodes"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: ["kosmos.io"]
  resources: ["clusternodes/status"]
  verbs: ["patch"]
{{- end }}

{{/* Cluster-wide RBAC rules of drmysql_clusterlink::permissions::DISCOVERY_MEMBER. */}}
{{- define "drmysql.discoveryMemberRules" -}}
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["list", "watch"]
# Flannel's and Cilium's configuration, read for the pod CIDRs.
- apiGroups: [""]
  resources: ["configmaps"]
  resourceNames: ["kube-flannel-cfg", "cilium-config"]
  verbs: ["get"]
# Calico: no-masquerade IPPools for the other clusters' ranges.
- apiGroups: ["crd.projectcalico.org"]
  resources: ["ippools"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: ["crd.projectcalico.org"]
  resources: ["blockaffinities"]
  verbs: ["list"]
{{- end }}
