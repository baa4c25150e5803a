{{/* Labels every object carries. */}}
{{- define "ichigo.labels" -}}
app.kubernetes.io/part-of: ichigo
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* <registry>/<name>:<tag>; the only place image references are built. */}}
{{- define "ichigo.image" -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag }}
{{- end -}}

{{- define "ichigo.mlflowUri" -}}
http://mlflow.{{ .Release.Namespace }}.svc.cluster.local:5000
{{- end -}}

{{/* Restricted pod security (runs as the image's non-root user 10001). */}}
{{- define "ichigo.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ichigo.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Ray ports pinned via rayStartParams so NetworkPolicies can name them. */}}
{{- define "ichigo.rayPorts" -}}
node-manager-port: "6380"
object-manager-port: "6381"
runtime-env-agent-port: "6382"
dashboard-agent-grpc-port: "6383"
dashboard-agent-listen-port: "52365"
metrics-export-port: "8080"
min-worker-port: "10002"
max-worker-port: "10999"
{{- end -}}

{{- define "ichigo.rayPeerPorts" -}}
- {protocol: TCP, port: 6379}
- {protocol: TCP, port: 6380, endPort: 6383}
- {protocol: TCP, port: 8000}
- {protocol: TCP, port: 8080}
- {protocol: TCP, port: 8265}
- {protocol: TCP, port: 10001}
- {protocol: TCP, port: 8500}
- {protocol: TCP, port: 9500}
- {protocol: TCP, port: 10002, endPort: 10999}
- {protocol: TCP, port: 30000, endPort: 31000}
- {protocol: TCP, port: 32768, endPort: 60999}
- {protocol: TCP, port: 52365}
{{- end -}}

{{- define "ichigo.checkovImageSkip" -}}
checkov.io/skip1: CKV_K8S_43=images are pinned by release tag in one place (values.yaml image.tag); digests are set at release time
{{- end -}}
