{{- define "mk.labels" -}}
app.kubernetes.io/name: meshkeeper
app.kubernetes.io/part-of: meshkeeper
app.kubernetes.io/managed-by: Helm
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "mk.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mk.identityAddr" -}}
{{ printf "meshkeeper-identity.%s.svc:8080" .Release.Namespace }}
{{- end -}}
{{- define "mk.discoveryAddr" -}}
{{ printf "meshkeeper-discovery.%s.svc:8086" .Release.Namespace }}
{{- end -}}
