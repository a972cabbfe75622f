{{/* Chart name, truncated to 63 characters. */}}
{{- define "nib.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "nib.fullname" -}}
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

{{- define "nib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nib.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nib.labels" -}}
helm.sh/chart: {{ include "nib.chart" . }}
{{ include "nib.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nib.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the admin tokens. */}}
{{- define "nib.secretName" -}}
{{- default (printf "%s-admin-tokens" (include "nib.fullname" .)) .Values.admin.existingSecret }}
{{- end }}

{{/* A Kubernetes protocol name from nib's (tcp/udp). */}}
{{- define "nib.k8sProtocol" -}}
{{- if eq (default "tcp" .) "udp" }}UDP{{ else }}TCP{{ end }}
{{- end }}

{{/*
nib's YAML configuration (docs/configuration.md). The admin plane listens on
every pod address, and therefore always with the token file from the Secret.
*/}}
{{/*
Where a service's TLS Secret (services[].tls.secretName) is mounted.
*/}}
{{- define "nib.serviceTlsPath" -}}
/etc/nib/service-tls/{{ . }}
{{- end }}

{{/*
Where a service's backend TLS Secret (services[].backendTls.secretName) is mounted.
*/}}
{{- define "nib.backendTlsPath" -}}
/etc/nib/backend-tls/{{ . }}
{{- end }}

{{/* Where the etcd TLS Secret (registry.etcd.tls.secretName) and the etcd
password (registry.etcd.auth.existingSecret) are mounted. */}}
{{- define "nib.etcdTlsPath" -}}
/etc/nib/etcd-tls
{{- end }}
{{- define "nib.etcdAuthPath" -}}
/etc/nib/etcd-auth
{{- end }}

{{/* "true" when the shared registry on etcd is configured (registry.etcd.endpoints). */}}
{{- define "nib.registry" -}}
{{- if ((.Values.registry).etcd).endpoints }}true{{ end }}
{{- end }}

{{/* "true" when nib keeps a local state file: state.enabled and no registry
(nib refuses state_file next to registry). */}}
{{- define "nib.state" -}}
{{- if and .Values.state.enabled (not (include "nib.registry" .)) }}true{{ end }}
{{- end }}

{{/* "true" when more than one pod may run. */}}
{{- define "nib.multiReplica" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled }}true{{ end }}
{{- end }}

{{/*
Refusals with a reason (values.schema.json refuses the same, less clearly).
Included by deployment.yaml.
*/}}
{{- define "nib.validate" -}}
{{- if not (include "nib.registry" .) }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled needs registry.etcd.endpoints: replicas without a shared registry disagree on backends (docs/ha.md)" }}
{{- end }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount > 1 needs registry.etcd.endpoints: replicas without a shared registry disagree on backends (docs/ha.md)" }}
{{- end }}
{{- else }}
{{- $auth := .Values.registry.etcd.auth }}
{{- if and $auth.user (not $auth.existingSecret) }}
{{- fail "registry.etcd.auth.user needs registry.etcd.auth.existingSecret: the Secret holding the etcd password" }}
{{- end }}
{{- if and $auth.existingSecret (not $auth.user) }}
{{- fail "registry.etcd.auth.existingSecret needs registry.etcd.auth.user: the etcd user the password belongs to" }}
{{- end }}
{{- end }}
{{- end }}

{{/* nib's registry: block (the shared registry on etcd). */}}
{{- define "nib.registryConfig" -}}
{{- $etcd := .Values.registry.etcd }}
{{- $reg := dict "store" "etcd" "endpoints" $etcd.endpoints "prefix" (default "/nib/" $etcd.prefix) }}
{{- if $etcd.tls.secretName }}
{{- $dir := include "nib.etcdTlsPath" . }}
{{- $tls := dict "ca" (printf "%s/ca.crt" $dir) }}
{{- if $etcd.tls.clientCertificate }}
{{- $_ := set $tls "cert" (printf "%s/tls.crt" $dir) }}
{{- $_ := set $tls "key" (printf "%s/tls.key" $dir) }}
{{- end }}
{{- $_ := set $reg "tls" $tls }}
{{- end }}
{{- if $etcd.auth.user }}
{{- $_ := set $reg "auth" (dict "user" $etcd.auth.user "password_file" (printf "%s/%s" (include "nib.etcdAuthPath" .) $etcd.auth.passwordKey)) }}
{{- end }}
{{- toYaml $reg }}
{{- end }}

{{/*
The pod's affinity: the user's, else with several replicas a preferred
anti-affinity on the node, so one node going down takes one replica.
*/}}
{{- define "nib.affinity" -}}
{{- if .Values.affinity }}
{{- toYaml .Values.affinity }}
{{- else if include "nib.multiReplica" . }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "nib.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end }}

{{- define "nib.config" -}}
{{- $passthrough := list "policy" "emergency" "connect_timeout" "idle_timeout" "max_connections" "pending_max" "idlers" "backlog" "defer_accept" "session_timeout" "max_sessions" "health_check" "slow_start" "drain_timeout" "backends_from" "acl" "http" "http_forwarded" "proxy_protocol" "accept_proxy_protocol" }}
{{- $host := .Values.config.listenAddress }}
{{- if and (contains ":" $host) (not (hasPrefix "[" $host)) }}{{ $host = printf "[%s]" $host }}{{ end }}
{{- $services := list }}
{{- range .Values.services }}
{{- $svc := dict "name" .name "listen" (printf "%s:%d" $host (int .port)) "protocol" (default "tcp" .protocol) "backends" (default list .backends) }}
{{- $src := . }}
{{- range $key := $passthrough }}
{{- if and (hasKey $src $key) (not (kindIs "invalid" (get $src $key))) }}
{{- $_ := set $svc $key (get $src $key) }}
{{- end }}
{{- end }}
{{- with .tls }}
{{- /* The Secret is mounted by the Deployment at this path (nib.serviceTlsPath);
  nib reads it again when the kubelet swaps in a rotated Secret. */}}
{{- $dir := include "nib.serviceTlsPath" $src.name }}
{{- $tls := dict "cert" (printf "%s/tls.crt" $dir) "key" (printf "%s/tls.key" $dir) "watch_interval" (default 30 .watchInterval) }}
{{- $auth := default "off" .clientAuth }}
{{- if ne $auth "off" }}
{{- $_ := set $tls "client_auth" $auth }}
{{- $_ := set $tls "ca" (printf "%s/ca.crt" $dir) }}
{{- end }}
{{- range $key := list "min_version" "ciphers" "prefer_server_ciphers" "handshake_timeout" "alpn" }}
{{- if hasKey $src.tls $key }}
{{- $_ := set $tls $key (get $src.tls $key) }}
{{- end }}
{{- end }}
{{- $_ := set $svc "tls" $tls }}
{{- end }}
{{- with .backendTls }}
{{- /* The Secret's ca.crt: the CAs backends chain to (else the system's);
  its tls.crt / tls.key with clientCertificate: nib's client certificate. */}}
{{- $dir := include "nib.backendTlsPath" $src.name }}
{{- $btls := dict }}
{{- if .secretName }}
{{- if ne (toString .verify) "false" }}
{{- $_ := set $btls "ca" (printf "%s/ca.crt" $dir) }}
{{- end }}
{{- if .clientCertificate }}
{{- $_ := set $btls "cert" (printf "%s/tls.crt" $dir) }}
{{- $_ := set $btls "key" (printf "%s/tls.key" $dir) }}
{{- end }}
{{- end }}
{{- if hasKey $src.backendTls "serverName" }}
{{- $_ := set $btls "server_name" $src.backendTls.serverName }}
{{- end }}
{{- range $key := list "verify" "min_version" "ciphers" }}
{{- if hasKey $src.backendTls $key }}
{{- $_ := set $btls $key (get $src.backendTls $key) }}
{{- end }}
{{- end }}
{{- $_ := set $svc "backend_tls" $btls }}
{{- end }}
{{- $services = append $services $svc }}
{{- end }}
{{- $admin := dict "enabled" true "http_listen" (printf "0.0.0.0:%d" (int .Values.admin.httpPort)) "grpc_listen" (printf "0.0.0.0:%d" (int .Values.admin.grpcPort)) "token_file" (printf "/etc/nib/tokens/%s" .Values.admin.secretKeys.tokenFile) }}
{{- if .Values.admin.tls.secretName }}
{{- $_ := set $admin "tls_cert_file" "/etc/nib/tls/tls.crt" }}
{{- $_ := set $admin "tls_key_file" "/etc/nib/tls/tls.key" }}
{{- end }}
{{- if include "nib.state" . }}
{{- /* On the volume the Deployment mounts at /var/lib/nib (emptyDir or claim). */}}
{{- $_ := set $admin "state_file" "/var/lib/nib/state.json" }}
{{- end }}
{{- $config := dict "workers" (int .Values.config.workers) "shutdown_grace" .Values.config.shutdownGrace "admin" $admin "services" $services }}
{{- if include "nib.registry" . }}
{{- /* The runtime state lives in etcd: no state_file (nib refuses both). */}}
{{- $_ := set $config "registry" (include "nib.registryConfig" . | fromYaml) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
A probe from values; with admin TLS its httpGet speaks HTTPS (the kubelet
does not verify the certificate of an HTTPS probe).
Usage: include "nib.probe" (list PROBE TLS_SECRET_NAME)
*/}}
{{- define "nib.probe" -}}
{{- $probe := deepCopy (index . 0) }}
{{- if and (index . 1) (hasKey $probe "httpGet") }}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* The claim holding the state file (state.persistence). */}}
{{- define "nib.stateClaim" -}}
{{- default (printf "%s-state" (include "nib.fullname" .)) .Values.state.persistence.existingClaim }}
{{- end }}
