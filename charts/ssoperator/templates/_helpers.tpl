{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "ssoperator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name appended unless the release name contains it. */}}
{{- define "ssoperator.fullname" -}}
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

{{- define "ssoperator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "ssoperator.labels" -}}
helm.sh/chart: {{ include "ssoperator.chart" . }}
{{ include "ssoperator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: ssoperator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator's Pods. */}}
{{- define "ssoperator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ssoperator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ssoperator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ssoperator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ssoperator.leaseName" -}}
{{- default (printf "%s-leader" (include "ssoperator.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "ssoperator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when the install is namespace-scoped (watchNamespaces is set), else "". */}}
{{- define "ssoperator.namespaced" -}}
{{- if .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/* Whether the operator watches Secret metadata: secrets.watch, or by default only when namespace-scoped. */}}
{{- define "ssoperator.watchSecrets" -}}
{{- if kindIs "bool" .Values.secrets.watch }}
{{- .Values.secrets.watch }}
{{- else }}
{{- ternary "true" "false" (not (empty .Values.watchNamespaces)) }}
{{- end }}
{{- end }}

{{/*
Rules on the namespaced ssoperator.io kinds, for the ClusterRole of a cluster-wide install or the
Role in each watched namespace. Every verb is one the operator calls:
  list/watch       the controllers' watches
  get              resolving references (an OrgRoleMapping's connection, a ProviderConfig, Secrets);
                   reading a resource again when the watch has not brought the operator's own
                   last write yet
  patch            adding and removing the ssoperator.io/finalizer (and a ProviderConfig's
                   ssoperator.io/in-use finalizer while Delete resources use it)
  status patch     writing the Ready/Synced conditions (the status subresources)
*/}}
{{- define "ssoperator.namespacedRules" -}}
- apiGroups: ["ssoperator.io"]
  resources: ["enterpriseconnections", "connectionprofiles", "orgrolemappings"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ssoperator.io"]
  resources: ["enterpriseconnections/status", "connectionprofiles/status", "orgrolemappings/status", "providerconfigs/status"]
  verbs: ["patch"]
- apiGroups: ["ssoperator.io"]
  resources: ["providerconfigs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: {{ if eq (include "ssoperator.watchSecrets" .) "true" }}["get", "list", "watch"]{{ else }}["get"]{{ end }}
{{- if .Values.writeOutputs }}
# spec.writeOutputsTo (writeOutputs=true): the ConfigMap or Secret each EnterpriseConnection owns.
- apiGroups: [""]
  resources: ["configmaps", "secrets"]
  verbs: ["get", "create", "patch"]
{{- end }}
{{- end }}

{{/*
Cluster-wide rules of every install: the cluster-scoped ClusterProviderConfigs, and list on the
managed kinds in all namespaces, which the operator uses before adopting a remote object to refuse
one that another resource already manages (reason AlreadyManaged), wherever that resource lives.
*/}}
{{- /* Namespace-scoped: ClusterProviderConfigs are read and watched (a change wakes the resources that use one), but a cluster-wide install reports their status. */ -}}
{{- define "ssoperator.clusterRules" -}}
{{- if include "ssoperator.namespaced" . -}}
- apiGroups: ["ssoperator.io"]
  resources: ["clusterproviderconfigs"]
  verbs: ["get", "list", "watch"]
{{- else -}}
- apiGroups: ["ssoperator.io"]
  resources: ["clusterproviderconfigs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ssoperator.io"]
  resources: ["clusterproviderconfigs/status"]
  verbs: ["patch"]
{{- end }}
# The labels of a namespace, for a ClusterProviderConfig's allowedNamespaces selector.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
{{- end }}
