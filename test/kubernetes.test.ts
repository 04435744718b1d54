import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { parse, parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { envPrefix } from '../platform/src/config.ts';
import type { ServiceOptions } from '../platform/src/config/service.ts';
import { close, createHttpService, listen, metricsPath } from '../platform/src/http/server.ts';
import { ServiceLifecycle } from '../platform/src/lifecycle.ts';
import { createLogger } from '../platform/src/logger.ts';
import { parseSubgraphConfig, subgraphEnv } from '../platform/src/subgraph/config.ts';
import { routerConfigFrom } from '../router/src/config.ts';
import { subgraphs } from '../subgraphs/registry.ts';
import { readDockerfile } from './support/dockerfile.ts';

/**
 * deploy/k8s/ is written by hand, like docker-compose.yml; this renders each
 * overlay with `kubectl kustomize`, validates every object against the
 * Kubernetes schema of its kind, and checks what the manifests say against
 * what the code does: the subgraphs in the registry, the commands in
 * docker-compose.yml, each service's config as the service itself parses the
 * manifests' environment, the HTTP layer the probes ask, the shutdown bound,
 * and that no secret value is written down anywhere.
 */

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** What each overlay promises beyond the base. */
const overlays = [
  { overlay: 'development', nodeEnv: 'development', autoscaled: false },
  { overlay: 'production', nodeEnv: 'production', autoscaled: true },
] as const;

/**
 * Custom resources kubernetes-models has no schema for, skipped by name so
 * that any other kind without a model fails instead of passing unchecked.
 */
const withoutSchema = new Set(['monitoring.coreos.com/v1 PodMonitor']);

/** The models of the kinds these manifests use, by `apiVersion kind`; a kind missing here fails the schema test. */
const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1 ConfigMap': ConfigMap,
  'v1 Service': Service,
  'apps/v1 Deployment': Deployment,
  'apps/v1 StatefulSet': StatefulSet,
  'batch/v1 Job': Job,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
};

/** Variable names whose values are credentials: never written as a `value` in a manifest. */
const secretVariable = /SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL/;

/** Where Prometheus runs, as base/network-policies.yaml and deploy/k8s/README.md assume. */
const prometheus: Peer = {
  name: 'prometheus',
  namespace: 'monitoring',
  labels: { 'app.kubernetes.io/name': 'prometheus' },
};
/** Any other pod in the cluster. */
const anyone: Peer = { name: 'anyone', namespace: 'elsewhere', labels: {} };

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** A Deployment, StatefulSet or Job: what runs pods. */
interface Workload extends KubeObject {
  spec: { replicas?: number; template: IPodTemplateSpec };
}

interface Peer {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

const kubectl = process.env.KUBECTL ?? 'kubectl';
const run = promisify(execFile);
/**
 * The manifests use kustomize 5 (`labels`, `patches` with targets), in kubectl
 * since 1.27; an older kubectl, such as Debian bookworm's 1.20, cannot render
 * them, and counts as none.
 */
const kustomizeMajor = await run(kubectl, ['version', '--client']).then(
  ({ stdout }) => Number(/Kustomize Version: v(\d+)/.exec(stdout)?.[1] ?? 0),
  () => 0,
);
const kubectlFound = kustomizeMajor >= 5;

async function render(overlay: string): Promise<KubeObject[]> {
  const { stdout } = await run(kubectl, ['kustomize', fileURLToPath(new URL(`deploy/k8s/overlays/${overlay}`, root))], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseAllDocuments(stdout).map((document) => document.toJS() as KubeObject);
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, { command?: string[] }>;
};
const k8sReadme = read('deploy/k8s/README.md');
const packageScripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

const ofKind = <T extends KubeObject>(objects: KubeObject[], kind: string) =>
  objects.filter((object) => object.kind === kind) as T[];

function named<T extends KubeObject>(objects: KubeObject[], kind: string, name: string): T {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} named ${name} in the rendered manifests`);
  return found as T;
}

const componentOf = (object: KubeObject) => object.metadata.labels?.['app.kubernetes.io/component'];
const workloadsOf = (objects: KubeObject[]) =>
  objects.filter((object): object is Workload => ['Deployment', 'StatefulSet', 'Job'].includes(object.kind));

/** The pod's one container: every workload here runs one. */
function containerOf(workload: Workload): IContainer {
  const containers = workload.spec.template.spec?.containers ?? [];
  expect(containers, `${workload.kind}/${workload.metadata.name}`).toHaveLength(1);
  return containers[0]!;
}

function containerPort(container: IContainer, port: string | number): number {
  if (typeof port === 'number') return port;
  const found = container.ports?.find((candidate) => candidate.name === port);
  if (!found) throw new Error(`container ${container.name} has no port named ${port}`);
  return found.containerPort;
}

/** A stand-in for a variable whose value lives in a Secret, shaped as the services' config wants it. */
function standInFor(variable: string): string {
  if (variable.endsWith('_DATABASE_URL')) return 'postgres://stand-in@postgres:5432/stand-in';
  if (variable === 'REDIS_URL') return 'redis://redis:6379';
  if (variable.endsWith('_SECRET')) return 'stand-in-for-a-secret-of-32-characters';
  return 'stand-in';
}

/** The container's environment as Kubernetes would give it, with stand-ins for Secret values. */
function environmentOf(container: IContainer, objects: KubeObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef?.name) throw new Error(`${container.name}: only envFrom ConfigMaps can be read offline`);
    Object.assign(env, named<IConfigMap & KubeObject>(objects, 'ConfigMap', source.configMapRef.name).data);
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = standInFor(variable.name);
    else throw new Error(`${container.name}: ${variable.name} comes from neither a value nor a Secret`);
  }
  return env;
}

interface ParsedService {
  options: ServiceOptions & { port: number };
  /** Variables under a prefix the service owns that it does not read. */
  unknownVariables: string[];
}

/** The service's config, parsed by its own code from the manifest's environment. */
function serviceOf(deployment: Workload, objects: KubeObject[]): ParsedService {
  const env = environmentOf(containerOf(deployment), objects);
  if (componentOf(deployment) === 'router') {
    const config = routerConfigFrom([], env);
    return { options: config, unknownVariables: config.unknownVariables.map(({ variable }) => variable) };
  }
  const entry = subgraphs.find(({ name }) => name === deployment.metadata.name);
  if (!entry) throw new Error(`Deployment ${deployment.metadata.name} is no subgraph of subgraphs/registry.ts`);
  const { config, unknownVariables } = parseSubgraphConfig(entry.name, entry.port, env);
  return { options: config, unknownVariables: unknownVariables.map(({ variable }) => variable) };
}

/** `kubectl create …` as deploy/k8s/README.md writes it, continuation lines joined; '' when it is not there. */
function documentedCommand(start: string): string {
  const lines = k8sReadme.split('\n');
  const first = lines.findIndex((line) => line.trimStart().startsWith(start + ' '));
  if (first === -1) return '';
  let command = '';
  for (const line of lines.slice(first)) {
    command += ' ' + line.replace(/\\$/, '');
    if (!line.endsWith('\\')) break;
  }
  return command;
}

type LabelSelector = NonNullable<INetworkPolicy['spec']>['podSelector'];

/** The Prometheus Operator's PodMonitor, as far as these tests read it (no model: `withoutSchema`). */
interface PodMonitor extends KubeObject {
  spec: { selector: LabelSelector; podMetricsEndpoints: Array<{ port?: string; path?: string }> };
}

function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    switch (operator) {
      case 'In':
        return labels[key] !== undefined && values.includes(labels[key]);
      case 'NotIn':
        return labels[key] === undefined || !values.includes(labels[key]);
      case 'Exists':
        return labels[key] !== undefined;
      case 'DoesNotExist':
        return labels[key] === undefined;
      default:
        throw new Error(`unknown selector operator ${operator}`);
    }
  });
  return byLabels && byExpressions;
}

/**
 * Whether the namespace's policies let `source` open a connection to a pod
 * with `labels` on its port `port` (named `portName`), as a NetworkPolicy
 * implementation decides: open unless a policy selects the pod, then only
 * what one of their rules allows.
 */
function admits(
  policies: INetworkPolicy[],
  namespace: string,
  target: { labels: Record<string, string>; port: number; portName?: string },
  source: Peer,
): boolean {
  const selecting = policies.filter(
    (policy) =>
      (policy.spec?.policyTypes ?? ['Ingress']).includes('Ingress') && selects(policy.spec?.podSelector, target.labels),
  );
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    (policy.spec?.ingress ?? []).some((rule) => {
      // An empty or missing list allows every source, or every port.
      const fromMatches =
        !rule.from?.length ||
        rule.from.some((peer) => {
          if (peer.ipBlock) throw new Error('ipBlock peers cannot be evaluated here');
          const namespaceMatches = peer.namespaceSelector
            ? selects(peer.namespaceSelector, { 'kubernetes.io/metadata.name': source.namespace })
            : source.namespace === namespace;
          return namespaceMatches && (!peer.podSelector || selects(peer.podSelector, source.labels));
        });
      const portMatches =
        !rule.ports?.length ||
        rule.ports.some(({ port }) => port === undefined || port === target.port || port === target.portName);
      return fromMatches && portMatches;
    }),
  );
}

/** What the HTTP layer every service is built on answers on `paths`, in each phase of its life. */
async function answersByPhase(paths: string[]) {
  const lifecycle = new ServiceLifecycle({ phase: 'waiting', for: ['database'], reason: null });
  const server = createHttpService({
    logger: createLogger({ service: 'kubernetes-test', level: 'silent' }),
    lifecycle,
    graphql: async () => {
      throw new Error('no GraphQL here');
    },
    readiness: async () => ({}),
  });
  const { url } = await listen(server, 0, '127.0.0.1');
  const statuses = async () =>
    Object.fromEntries(await Promise.all(paths.map(async (path) => [path, (await fetch(url + path)).status] as const)));
  try {
    const waiting = await statuses();
    lifecycle.enter({ phase: 'ready' });
    const ready = await statuses();
    lifecycle.drain();
    const draining = await statuses();
    return { waiting, ready, draining };
  } finally {
    await close(server);
  }
}

// Never skipped: these machines and CI have kubectl with kustomize 5 (.ci/run requires it).
if (!kubectlFound)
  throw new Error(`deploy/k8s: no ${kubectl} with kustomize 5 (kubectl 1.27 or later; KUBECTL names one)`);

describe.each(overlays)('the $overlay overlay (deploy/k8s/overlays)', ({ overlay, nodeEnv, autoscaled }) => {
  let objects: KubeObject[];
  let deployments: Workload[];
  let jobs: Workload[];
  let router: Workload;

  beforeAll(async () => {
    objects = await render(overlay);
    deployments = ofKind<Workload>(objects, 'Deployment');
    jobs = ofKind<Workload>(objects, 'Job');
    router = named<Workload>(objects, 'Deployment', 'router');
  });

  it('renders, every object valid against the Kubernetes schema of its kind, all in one namespace', () => {
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) {
      const kind = `${object.apiVersion} ${object.kind}`;
      const what = `${kind} ${object.metadata.name}`;
      if (withoutSchema.has(kind)) continue;
      const Model = models[kind];
      if (!Model) throw new Error(`${what}: no schema; add its kubernetes-models class to \`models\``);
      expect(() => new Model(object as never).validate(), what).not.toThrow();
    }
    expect(new Set(objects.map((object) => object.metadata.namespace)).size).toBe(1);
    expect(objects[0]!.metadata.namespace).toBeTruthy();
  });

  it('has a Deployment, a Service and a migration Job for every subgraph in subgraphs/registry.ts, and no other', () => {
    for (const { name, port } of subgraphs) {
      const hint = `${name}: run \`npm run registry-files\` (deploy/k8s/README.md, Adding a subgraph)`;
      const deployment = deployments.find((candidate) => candidate.metadata.name === name);
      expect(deployment && componentOf(deployment), hint).toBe('subgraph');
      const service = ofKind<IService & KubeObject>(objects, 'Service').find(
        (candidate) => candidate.metadata.name === name,
      );
      expect(
        service?.spec?.ports?.map((entry) => entry.port),
        hint,
      ).toEqual([port]);
      expect(selects({ matchLabels: service!.spec!.selector }, deployment!.spec.template.metadata!.labels!), hint).toBe(
        true,
      );
      const job = jobs.find(
        (candidate) =>
          componentOf(candidate) === 'migration' && candidate.metadata.labels?.['app.kubernetes.io/name'] === name,
      );
      expect(job, hint).toBeDefined();
    }
    const listed = deployments.filter((deployment) => componentOf(deployment) === 'subgraph');
    expect(listed.map((deployment) => deployment.metadata.name).sort()).toEqual(
      subgraphs.map(({ name }) => name).sort(),
    );
  });

  it("runs each service with docker-compose.yml's command, under the image's ENTRYPOINT, all from one image", () => {
    for (const deployment of deployments) {
      const container = containerOf(deployment);
      // `command` would replace the ENTRYPOINT, tini, which passes SIGTERM on and reaps (Dockerfile).
      expect(container.command, deployment.metadata.name).toBeUndefined();
      expect(container.args, deployment.metadata.name).toEqual(compose.services[deployment.metadata.name]?.command);
    }
    const images = workloadsOf(objects)
      .filter((workload) => ['router', 'subgraph', 'migration'].includes(componentOf(workload) ?? ''))
      .map((workload) => containerOf(workload).image);
    expect(new Set(images).size).toBe(1);
  });

  it('migrates each database with `npm run db:migrate`, run as the services run, one pod at a time', () => {
    // `tsx scripts/db.ts migrate`: the script and its task, without the runner, as the image's build has it.
    const migrate = packageScripts['db:migrate']!.split(' ')
      .slice(1)
      .map((arg) => arg.replace(/\.ts$/, '.js'));
    for (const { name } of subgraphs) {
      const job = named<Workload & IJob>(objects, 'Job', `${name}-migrate`);
      const serviceCommand = compose.services[name]!.command!;
      // Node and its flags, as far as the script the subgraph runs.
      const runtime = serviceCommand.slice(
        0,
        serviceCommand.findIndex((arg) => /\.(ts|js|mjs)$/.test(arg)),
      );
      const container = containerOf(job);
      expect(container.command).toBeUndefined();
      expect(container.args).toEqual([...runtime, ...migrate, name]);
      // Its database is the one the subgraph serves from.
      const variable = `${envPrefix(name)}_DATABASE_URL`;
      const subgraphContainer = containerOf(named<Workload>(objects, 'Deployment', name));
      const reference = (c: IContainer) => c.env?.find((entry) => entry.name === variable)?.valueFrom?.secretKeyRef;
      expect(reference(container)).toBeDefined();
      expect(reference(container)).toEqual(reference(subgraphContainer));
      // One migrator per release, before the rollout (two at once would only take turns on the lock).
      expect(job.spec?.parallelism).toBe(1);
      expect(job.spec?.completions).toBe(1);
      expect(job.spec?.template.spec?.restartPolicy).toBe('Never');
    }
    // The release's first step selects them by their label (deploy/k8s/README.md, Releasing).
    expect(k8sReadme).toContain('-l app.kubernetes.io/component=migration');
  });

  it('configures each service only with variables it reads, and it listens where the probes, Services and Prometheus look', () => {
    const services = ofKind<IService & KubeObject>(objects, 'Service');
    for (const deployment of deployments) {
      const name = deployment.metadata.name;
      const container = containerOf(deployment);
      const { options, unknownVariables } = serviceOf(deployment, objects);
      expect(unknownVariables, name).toEqual([]);
      expect(options.nodeEnv, name).toBe(nodeEnv);
      expect(options.host, name).toBe('0.0.0.0');
      expect(containerPort(container, 'http'), name).toBe(options.port);
      // Metrics on their own port, reachable from Prometheus (network-policies.yaml limits who).
      expect(options.metrics, name).toEqual({ host: '0.0.0.0', port: containerPort(container, 'metrics') });
      const annotations = deployment.spec.template.metadata?.annotations ?? {};
      expect(annotations, name).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(options.metrics.port),
        'prometheus.io/path': metricsPath,
      });
      expect(options.identitySecret, name).not.toBeNull();
      expect(options.redisUrl, name).not.toBeNull();
      const service = services.find((candidate) => candidate.metadata.name === name)!;
      for (const { targetPort } of service.spec?.ports ?? [])
        expect(containerPort(container, targetPort ?? 0), name).toBe(options.port);
      const probes = [container.startupProbe, container.livenessProbe, container.readinessProbe];
      for (const probe of probes) expect(containerPort(container, probe?.httpGet?.port ?? 0), name).toBe(options.port);
    }
    // The Prometheus Operator, where the overlay has it, scrapes the same port and path.
    for (const monitor of ofKind<PodMonitor>(objects, 'PodMonitor')) {
      for (const deployment of deployments)
        expect(selects(monitor.spec.selector, deployment.spec.template.metadata!.labels!)).toBe(true);
      expect(monitor.spec.podMetricsEndpoints).toEqual([
        expect.objectContaining({ port: 'metrics', path: metricsPath }),
      ]);
    }
    // Each subgraph reads exactly what its own fragments declare (platform/src/subgraph/config.ts).
    for (const { name, port } of subgraphs) {
      const env = environmentOf(containerOf(named<Workload>(objects, 'Deployment', name)), objects);
      const declared = new Set(
        Object.values(subgraphEnv(name, port)).flatMap((fragment) => Object.keys(fragment.variables)),
      );
      for (const variable of Object.keys(env)) expect(declared, `${name} reads no ${variable}`).toContain(variable);
      const config = parseSubgraphConfig(name, port, env).config;
      expect(config.database.kind, name).toBe('postgres');
      // The migration Job migrates, before the rollout; a subgraph does not (base/patches/migration-jobs.yaml).
      expect(config.migrateOnStart, name).toBe(false);
    }
  });

  it('points the router at every subgraph through its Service, and verifies client tokens', () => {
    const config = routerConfigFrom([], environmentOf(containerOf(router), objects));
    for (const { name } of subgraphs) {
      const service = named<IService & KubeObject>(objects, 'Service', name);
      expect(config.subgraphUrls[envPrefix(name)]).toBe(`http://${name}:${service.spec!.ports![0]!.port}/graphql`);
    }
    expect(config.authentication).not.toBeNull();
  });

  it('mounts the supergraph from a ConfigMap as a directory, which the router watches, so an update reaches it', () => {
    const config = routerConfigFrom([], environmentOf(containerOf(router), objects));
    expect(config.watchSupergraph).toBe(true);
    const mount = containerOf(router).volumeMounts?.find(
      (candidate) => candidate.mountPath === dirname(config.supergraphPath),
    );
    // A subPath would pin the file the pod started with: the kubelet's `..data`
    // swap would never reach it (router/test/router.test.ts reloads on that swap).
    expect(mount?.subPath).toBeUndefined();
    const volume = router.spec.template.spec?.volumes?.find((candidate) => candidate.name === mount?.name);
    expect(volume?.configMap?.items).toBeUndefined();
    const configMap = volume?.configMap?.name ?? '';
    expect(configMap).not.toBe('');
    // Created beside the manifests, with the file under the name the router reads.
    expect(documentedCommand(`kubectl create configmap ${configMap}`)).toContain(
      `--from-file=${basename(config.supergraphPath)}=schema/supergraph.graphql`,
    );
  });

  it('probes the health endpoints every service serves: never restarted for waiting or draining, out of rotation for both', async () => {
    const paths = new Set<string>();
    for (const deployment of deployments) {
      const container = containerOf(deployment);
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe])
        paths.add(probe?.httpGet?.path ?? '(not an HTTP GET probe)');
    }
    const answers = await answersByPhase([...paths]);
    for (const deployment of deployments) {
      const container = containerOf(deployment);
      const name = deployment.metadata.name;
      for (const probe of [container.startupProbe, container.livenessProbe]) {
        const path = probe!.httpGet!.path!;
        expect([answers.waiting[path], answers.ready[path], answers.draining[path]], `${name} ${path}`).toEqual([
          200, 200, 200,
        ]);
      }
      const readiness = container.readinessProbe!.httpGet!.path!;
      expect([answers.waiting[readiness], answers.ready[readiness], answers.draining[readiness]], name).toEqual([
        503, 200, 503,
      ]);
    }
  });

  it('gives every service longer to stop than its shutdown bound, and readiness less time to notice than the drain', () => {
    for (const deployment of deployments) {
      const name = deployment.metadata.name;
      const { lifecycle } = serviceOf(deployment, objects).options;
      // From the service's config: SHUTDOWN_TIMEOUT_SECONDS, else its default (platform/src/lifecycle.ts).
      expect((deployment.spec.template.spec?.terminationGracePeriodSeconds ?? 0) * 1000, name).toBeGreaterThan(
        lifecycle.shutdownTimeoutMs,
      );
      const readiness = containerOf(deployment).readinessProbe!;
      expect(lifecycle.drainMs, name).toBeGreaterThan(
        (readiness.periodSeconds ?? 10) * (readiness.failureThreshold ?? 3) * 1000,
      );
      // Kubernetes' `<SERVICE>_PORT` variables would collide with the services' own (ACCOUNTS_PORT).
      expect(deployment.spec.template.spec?.enableServiceLinks, name).toBe(false);
    }
  });

  it('writes no secret value: credentials come from Secrets created beside the manifests, each documented', () => {
    expect(ofKind(objects, 'Secret')).toEqual([]);
    const references = new Map<string, Set<string>>();
    for (const workload of workloadsOf(objects)) {
      for (const variable of containerOf(workload).env ?? []) {
        if (secretVariable.test(variable.name))
          expect(variable.valueFrom?.secretKeyRef, `${workload.metadata.name} ${variable.name}`).toBeDefined();
        const reference = variable.valueFrom?.secretKeyRef;
        if (reference?.name)
          references.set(reference.name, (references.get(reference.name) ?? new Set()).add(reference.key));
      }
    }
    for (const configMap of ofKind<IConfigMap & KubeObject>(objects, 'ConfigMap'))
      for (const key of Object.keys(configMap.data ?? {})) expect(key).not.toMatch(secretVariable);
    // No URL with a password in it, anywhere.
    expect(JSON.stringify(objects)).not.toMatch(/\w+:\/\/[^/\s:@"]+:[^@\s"]+@/);
    for (const [secret, keys] of references) {
      const command = documentedCommand(`kubectl create secret generic ${secret}`);
      expect(command, `deploy/k8s/README.md: how to create ${secret}`).not.toBe('');
      for (const key of keys) expect(command, secret).toContain(`--from-literal=${key}=`);
    }
  });

  it('lets only the router reach the subgraphs, only Prometheus the metrics, and Postgres and Redis only their users', () => {
    const policies = ofKind<INetworkPolicy & KubeObject>(objects, 'NetworkPolicy');
    const namespace = objects[0]!.metadata.namespace!;
    const ours = workloadsOf(objects).map((workload) => ({
      name: `${workload.kind}/${workload.metadata.name}`,
      namespace,
      labels: workload.spec.template.metadata?.labels ?? {},
    }));
    const sources = [...ours, prometheus, anyone];
    const allowed = (labels: Record<string, string>, port: number, portName?: string) =>
      sources
        .filter((source) => admits(policies, namespace, { labels, port, ...(portName ? { portName } : {}) }, source))
        .map((source) => source.name)
        .sort();
    const workloadNames = (component: string) =>
      workloadsOf(objects)
        .filter((workload) => componentOf(workload) === component)
        .map((workload) => `${workload.kind}/${workload.metadata.name}`);
    for (const deployment of deployments) {
      const labels = deployment.spec.template.metadata!.labels!;
      const container = containerOf(deployment);
      const http = allowed(labels, containerPort(container, 'http'), 'http');
      const metrics = allowed(labels, containerPort(container, 'metrics'), 'metrics');
      expect(http, deployment.metadata.name).toEqual(
        deployment === router ? sources.map((source) => source.name).sort() : ['Deployment/router'],
      );
      expect(metrics, deployment.metadata.name).toEqual(['prometheus']);
    }
    for (const job of jobs) expect(allowed(job.spec.template.metadata!.labels!, 4000), job.metadata.name).toEqual([]);
    // Where Postgres and Redis run in the namespace (development), with their labels; else as they would be labelled.
    const labelsOf = (name: string) =>
      ofKind<Workload>(objects, 'StatefulSet').find((workload) => workload.metadata.name === name)?.spec.template
        .metadata?.labels ?? { 'app.kubernetes.io/name': name };
    expect(allowed(labelsOf('postgres'), 5432)).toEqual(
      [...workloadNames('subgraph'), ...workloadNames('migration')].sort(),
    );
    expect(allowed(labelsOf('redis'), 6379)).toEqual([...workloadNames('router'), ...workloadNames('subgraph')].sort());
  });

  it("runs the image's pods unprivileged on a read-only root filesystem, writing only to a pod-lived /tmp, where Node's compile cache is", () => {
    const compileCache = readDockerfile().env.NODE_COMPILE_CACHE;
    expect(compileCache, 'the Dockerfile sets NODE_COMPILE_CACHE').toBeDefined();
    const image = workloadsOf(objects).filter((workload) =>
      ['router', 'subgraph', 'migration'].includes(componentOf(workload) ?? ''),
    );
    expect(image.length).toBe(1 + 2 * subgraphs.length);
    for (const workload of image) {
      const name = `${workload.kind}/${workload.metadata.name}`;
      const pod = workload.spec.template.spec!;
      const container = containerOf(workload);
      expect(pod.securityContext, name).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
      expect(container.securityContext, name).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      // The compile cache's folder is on a writable mount, which lives with the pod: a container
      // restarted in it starts with the cache its previous start wrote.
      const mount = container.volumeMounts?.find((candidate) => compileCache!.startsWith(`${candidate.mountPath}/`));
      expect(mount, `${name} mounts a folder holding ${compileCache}`).toBeDefined();
      expect(mount!.readOnly ?? false, name).toBe(false);
      const volume = pod.volumes?.find((candidate) => candidate.name === mount!.name);
      expect(volume?.emptyDir, `${name}: ${mount!.mountPath} is an emptyDir`).toBeDefined();
    }
  });

  it('sizes every container', () => {
    for (const workload of workloadsOf(objects)) {
      const { requests, limits } = containerOf(workload).resources ?? {};
      expect(requests, workload.metadata.name).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(limits, workload.metadata.name).toMatchObject({ memory: expect.any(String) });
    }
  });

  if (autoscaled) {
    it('scales the router on CPU from two replicas up, and lets a drain take only one router or subgraph pod at a time', () => {
      // The autoscaler owns the count; one written here would reset it at every apply.
      expect(router.spec.replicas).toBeUndefined();
      const autoscaler = ofKind<IHorizontalPodAutoscaler & KubeObject>(objects, 'HorizontalPodAutoscaler');
      expect(autoscaler).toHaveLength(1);
      expect(autoscaler[0]!.spec?.scaleTargetRef).toMatchObject({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'router',
      });
      expect(autoscaler[0]!.spec?.minReplicas).toBeGreaterThanOrEqual(2);
      expect(autoscaler[0]!.spec?.metrics?.map((metric) => metric.resource?.name)).toEqual(['cpu']);
      const budgets = ofKind<IPodDisruptionBudget & KubeObject>(objects, 'PodDisruptionBudget');
      for (const deployment of deployments) {
        const labels = deployment.spec.template.metadata!.labels!;
        const budget = budgets.filter((candidate) => selects(candidate.spec?.selector, labels));
        expect(
          budget.map((candidate) => candidate.spec?.maxUnavailable),
          deployment.metadata.name,
        ).toEqual([1]);
        if (deployment !== router) expect(deployment.spec.replicas, deployment.metadata.name).toBeGreaterThanOrEqual(2);
      }
    });
  } else {
    it('runs one replica of each service, with nothing to autoscale or protect, and creates every subgraph database', () => {
      for (const deployment of deployments) expect(deployment.spec.replicas, deployment.metadata.name).toBe(1);
      expect(ofKind(objects, 'HorizontalPodAutoscaler')).toEqual([]);
      expect(ofKind(objects, 'PodDisruptionBudget')).toEqual([]);
      const created = (sql: string) => [...sql.matchAll(/CREATE DATABASE (\w+);/g)].map((match) => match[1]);
      const init = ofKind<IConfigMap & KubeObject>(objects, 'ConfigMap').find((candidate) =>
        candidate.metadata.name.startsWith('postgres-init'),
      );
      const databases = created(Object.values(init?.data ?? {}).join('\n'));
      expect(databases).toEqual(subgraphs.map(({ name }) => name));
      expect(databases).toEqual(created(read('docker/postgres/create-databases.sql')));
    });
  }
});
