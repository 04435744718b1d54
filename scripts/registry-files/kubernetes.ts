import { envPrefix } from '../../platform/src/config.ts';
import { metricsPortFrom } from '../../platform/src/metrics.ts';

/**
 * deploy/k8s/base/subgraphs/<name>.yaml: a subgraph's Deployment, Service
 * and migration Job. Subgraphs differ in name and ports only; what they
 * share beyond that (rollout, probes, grace period, resources, security
 * context, how a migration runs) is in deploy/k8s/base/patches/, so that a
 * change made there reaches every subgraph and this file stays the same.
 */
export function subgraphManifests({ name, port }: { name: string; port: number }, routerPort: number): string {
  const prefix = envPrefix(name);
  // 9464 + its port − 4000, as in production by default (platform/src/metrics.ts).
  const metricsPort = metricsPortFrom(undefined, true, port - routerPort);
  const labels = (component: string, indent: string) =>
    [`${indent}app.kubernetes.io/name: ${name}`, `${indent}app.kubernetes.io/component: ${component}`].join('\n');
  const databaseUrl = (indent: string) =>
    [
      `${indent}- name: ${prefix}_DATABASE_URL`,
      `${indent}  valueFrom:`,
      `${indent}    secretKeyRef:`,
      `${indent}      name: shop-graph-databases`,
      `${indent}      key: ${prefix}_DATABASE_URL`,
    ].join('\n');
  // The pod's one writable folder, for the Deployment and the Job alike.
  const writableTmp = [
    '          volumeMounts:',
    '            # The one writable folder (the root filesystem is read-only: ../patches/unprivileged.yaml).',
    '            - name: tmp',
    '              mountPath: /tmp',
    '      volumes:',
    "        # Lives as long as the pod, so a restarted container finds Node's compile cache (NODE_COMPILE_CACHE) there.",
    '        - name: tmp',
    '          emptyDir:',
    '            sizeLimit: 64Mi',
  ].join('\n');
  return `# The ${name} subgraph: its Deployment, its Service and the Job that migrates
# its database. Written by \`npm run registry-files\` from subgraphs/registry.ts
# (scripts/registry-files/kubernetes.ts); what every subgraph shares is in
# ../patches/ (rollout, probes, grace period, resources, security context, how
# a migration runs).
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
${labels('subgraph', '    ')}
spec:
  replicas: 2
  selector:
    matchLabels:
${labels('subgraph', '      ')}
  template:
    metadata:
      labels:
${labels('subgraph', '        ')}
      annotations:
        prometheus.io/scrape: 'true'
        prometheus.io/port: '${metricsPort}'
        prometheus.io/path: /metrics
    spec:
      containers:
        - name: ${name}
          image: shop-graph
          # docker-compose.yml's command, as arguments to the image's ENTRYPOINT (tini).
          args: ['node', 'subgraphs/serve.js', '${name}']
          ports:
            # Its port in subgraphs/registry.ts.
            - name: http
              containerPort: ${port}
            # 9464 + its port − 4000, as in production by default (platform/src/metrics.ts);
            # set below because development's default is a random port.
            - name: metrics
              containerPort: ${metricsPort}
          envFrom:
            - configMapRef:
                name: shop-graph-env
            - configMapRef:
                name: shop-graph-subgraph-env
          env:
            - name: ${prefix}_PORT
              value: '${port}'
            - name: ${prefix}_METRICS_PORT
              value: '${metricsPort}'
${databaseUrl('            ')}
            - name: INTERNAL_IDENTITY_SECRET
              valueFrom:
                secretKeyRef:
                  name: shop-graph-auth
                  key: INTERNAL_IDENTITY_SECRET
            # Redis Streams carry the events between subgraphs.
            - name: REDIS_URL
              valueFrom:
                secretKeyRef:
                  name: shop-graph-redis
                  key: REDIS_URL
${writableTmp}
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  labels:
${labels('subgraph', '    ')}
spec:
  selector:
${labels('subgraph', '    ')}
  ports:
    - name: http
      port: ${port}
      targetPort: http
---
# Applied, and waited for, before the Deployment rolls out (deploy/k8s/README.md, Releasing).
apiVersion: batch/v1
kind: Job
metadata:
  name: ${name}-migrate
  labels:
${labels('migration', '    ')}
spec:
  template:
    metadata:
      labels:
${labels('migration', '        ')}
    spec:
      containers:
        - name: migrate
          image: shop-graph
          # \`npm run db:migrate -- ${name}\`, with Node started as the services start it.
          args: ['node', 'scripts/db.js', 'migrate', '${name}']
          env:
${databaseUrl('            ')}
${writableTmp}
`;
}
