{{/*
Names and labels, the shared pieces of the ConfigMap, Secret and pod spec (used by both the
Deployment and the migration Job, so they cannot drift), and the checks that stop a bad install.
*/}}

{{/* Chart name, at most 63 characters (a DNS label). */}}
{{- define "iam.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "iam.fullname" -}}
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

{{/* chart label: name-version */}}
{{- define "iam.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "iam.labels" -}}
helm.sh/chart: {{ include "iam.chart" . }}
{{ include "iam.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select this release's pods (server and migration). */}}
{{- define "iam.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iam.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels that select the server pods only (the Service must never pick a migration pod). */}}
{{- define "iam.serverSelectorLabels" -}}
{{ include "iam.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* image:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "iam.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Name of the Secret the server reads: the existing one, or the chart's. */}}
{{- define "iam.secretName" -}}
{{- default (include "iam.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* "true" when the FEDERATION file is mounted, else empty. */}}
{{- define "iam.federationEnabled" -}}
{{- if or .Values.federation.enabled .Values.secrets.federation }}true{{ end }}
{{- end }}

{{/*
ConfigMap data: the non-secret settings. NODE_ENV, PORT, ISSUER and TRUST_PROXY come from the
chart; `config` and `env` entries with a value follow (empty ones are left out, so the server's
defaults apply).
*/}}
{{- define "iam.configData" -}}
NODE_ENV: "production"
PORT: {{ .Values.containerPort | quote }}
ISSUER: {{ .Values.issuer | quote }}
{{- if or .Values.ingress.enabled .Values.trustProxy }}
TRUST_PROXY: "true"
{{- end }}
{{- range $name, $value := .Values.config }}
{{- include "iam.configEntry" (list $name $value) }}
{{- end }}
{{- range $name, $value := .Values.env }}
{{- include "iam.configEntry" (list $name $value) }}
{{- end }}
{{- end }}

{{/*
One ConfigMap entry from (list NAME value): numbers are written as integers (values.yaml numbers
are floats to Helm, and 1209600 would print as 1.2096e+06); empty values are left out.
*/}}
{{- define "iam.configEntry" -}}
{{- $name := index . 0 }}
{{- $value := index . 1 }}
{{- if kindIs "float64" $value }}
{{ $name }}: {{ int64 $value | quote }}
{{- else if ne (toString $value) "" }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end }}

{{/*
Secret data of the chart-made Secret: the keys are the environment variable names. The required
ones fail the install when missing; the optional ones are left out when empty.
*/}}
{{- define "iam.secretData" -}}
DATABASE_URL: {{ required "secrets.databaseUrl is required (or use secrets.existingSecret)" .Values.secrets.databaseUrl | b64enc | quote }}
COOKIE_KEYS: {{ required "secrets.cookieKeys is required (or use secrets.existingSecret)" .Values.secrets.cookieKeys | b64enc | quote }}
JWKS: {{ required "secrets.jwks is required (or use secrets.existingSecret)" .Values.secrets.jwks | b64enc | quote }}
ENCRYPTION_KEYS: {{ required "secrets.encryptionKeys is required (or use secrets.existingSecret)" .Values.secrets.encryptionKeys | b64enc | quote }}
{{- with .Values.secrets.redisUrl }}
REDIS_URL: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.redisPassword }}
REDIS_PASSWORD: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.redisSentinelPassword }}
REDIS_SENTINEL_PASSWORD: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.smtpPassword }}
SMTP_PASSWORD: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.vonageApiSecret }}
VONAGE_API_SECRET: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.federation }}
FEDERATION: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
Pod spec shared by the Deployment and the migration Job: the same image, environment, volumes and
security context. Called with a dict:
  root        the chart context ($)
  configMap   name of the ConfigMap to read
  secret      name of the Secret to read
  args        container arguments (["serve"] or ["migrate"])
  resources   the container's resources
  server      true for the Deployment (ports, probes, preStop)
*/}}
{{- define "iam.podSpec" -}}
{{- $root := .root -}}
automountServiceAccountToken: false
{{- with $root.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
containers:
  - name: iam
    image: {{ include "iam.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    # The image's entrypoint, spelled out: Node runs the TypeScript sources itself (no loader).
    command: ["node", "src/main.ts"]
    args:
      {{- toYaml .args | nindent 6 }}
    envFrom:
      - configMapRef:
          name: {{ .configMap }}
    env:
      - name: DATABASE_URL
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: DATABASE_URL
      - name: COOKIE_KEYS
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: COOKIE_KEYS
      - name: JWKS
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: JWKS
      - name: ENCRYPTION_KEYS
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: ENCRYPTION_KEYS
      - name: REDIS_URL
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: REDIS_URL
            optional: true
      - name: REDIS_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: REDIS_PASSWORD
            optional: true
      - name: REDIS_SENTINEL_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: REDIS_SENTINEL_PASSWORD
            optional: true
      - name: SMTP_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: SMTP_PASSWORD
            optional: true
      - name: VONAGE_API_SECRET
        valueFrom:
          secretKeyRef:
            name: {{ .secret }}
            key: VONAGE_API_SECRET
            optional: true
      {{- if include "iam.federationEnabled" $root }}
      - name: FEDERATION_FILE
        value: {{ printf "%s/federation.json" $root.Values.federation.mountPath | quote }}
      {{- end }}
    {{- if .server }}
    ports:
      - name: http
        containerPort: {{ $root.Values.containerPort }}
        protocol: TCP
    startupProbe:
      httpGet:
        path: /healthz
        port: http
      {{- toYaml $root.Values.startupProbe | nindent 6 }}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      {{- toYaml $root.Values.livenessProbe | nindent 6 }}
    readinessProbe:
      httpGet:
        path: /readyz
        port: http
      {{- toYaml $root.Values.readinessProbe | nindent 6 }}
    {{- if gt (int $root.Values.preStopSleepSeconds) 0 }}
    lifecycle:
      preStop:
        exec:
          command: ["sleep", {{ $root.Values.preStopSleepSeconds | quote }}]
    {{- end }}
    {{- end }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: data
        mountPath: /var/lib/iam
      - name: tmp
        mountPath: /tmp
      {{- if include "iam.federationEnabled" $root }}
      - name: federation
        mountPath: {{ $root.Values.federation.mountPath }}
        readOnly: true
      {{- end }}
volumes:
  # DATA_DIR and KEYS_DIR of the image; with PostgreSQL and keys from the Secret nothing lasting
  # is written there.
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
  {{- if include "iam.federationEnabled" $root }}
  - name: federation
    secret:
      secretName: {{ .secret }}
      defaultMode: 0440
      items:
        - key: FEDERATION
          path: federation.json
  {{- end }}
{{- end }}

{{/*
Checks that stop a bad install with a clear message (included by the Deployment).
*/}}
{{- define "iam.validate" -}}
{{- if not (hasPrefix "https://" (required "issuer is required: the public https:// URL clients see" .Values.issuer)) }}
{{- fail "issuer must start with https:// (the server runs with NODE_ENV=production)" }}
{{- end }}
{{- range $name := list "NODE_ENV" "PORT" "ISSUER" "TRUST_PROXY" "DATABASE_URL" "REDIS_URL" "REDIS_PASSWORD" "REDIS_SENTINEL_PASSWORD" "COOKIE_KEYS" "JWKS" "JWKS_FILE" "ENCRYPTION_KEYS" "SMTP_PASSWORD" "VONAGE_API_SECRET" "FEDERATION" "FEDERATION_FILE" }}
{{- if or (hasKey $.Values.config $name) (hasKey $.Values.env $name) }}
{{- fail (printf "%s is set by the chart (see values.yaml: issuer, trustProxy, containerPort, secrets); remove it from config/env" $name) }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.env }}
{{- if hasKey $.Values.config $name }}
{{- fail (printf "%s is in both config and env: set it in config" $name) }}
{{- end }}
{{- end }}
{{- if .Values.secrets.existingSecret }}
{{- if or .Values.secrets.databaseUrl .Values.secrets.redisUrl .Values.secrets.redisPassword .Values.secrets.redisSentinelPassword .Values.secrets.cookieKeys .Values.secrets.jwks .Values.secrets.encryptionKeys .Values.secrets.smtpPassword .Values.secrets.vonageApiSecret .Values.secrets.federation }}
{{- fail "secrets.existingSecret is set: leave the other secrets.* values empty (they would be ignored)" }}
{{- end }}
{{- else if and (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) (not (or .Values.secrets.redisUrl .Values.config.REDIS_SENTINELS .Values.config.REDIS_CLUSTER_NODES)) }}
{{- fail "more than one replica needs Redis: set secrets.redisUrl, or config.REDIS_SENTINELS or config.REDIS_CLUSTER_NODES (sessions, tokens and rate limits must be shared)" }}
{{- end }}
{{- end }}
