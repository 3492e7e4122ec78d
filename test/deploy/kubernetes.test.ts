// deploy/kubernetes/ against the Kubernetes OpenAPI schema (kubernetes-models'
// validators; the ServiceMonitor against prometheus-operator's API, from
// @kubernetes-models/prometheus-operator), with no field the API does not
// know (the same models' TypeScript types, strictly: kubectl's
// --validate=strict refuses unknown fields too), and the parts agreeing with
// each other and with what pmtu-watch reads and serves.

import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createProgram } from '../../src/cli/main.js';
import { Feed } from '../../src/feed/server.js';
import { NETNS_DIRS } from '../../src/netns/discovery.js';
import { DEPLOY, PACKAGE_VERSION, ROOT, yamlDocs } from './helpers.js';

/** apiVersion/kind → the model: its module, class and interface. */
const MODELS: Record<string, { module: string; cls: string }> = {
  'v1/Namespace': { module: 'kubernetes-models/v1/Namespace', cls: 'Namespace' },
  'v1/ServiceAccount': { module: 'kubernetes-models/v1/ServiceAccount', cls: 'ServiceAccount' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', cls: 'Service' },
  'apps/v1/DaemonSet': { module: 'kubernetes-models/apps/v1/DaemonSet', cls: 'DaemonSet' },
  'monitoring.coreos.com/v1/ServiceMonitor': { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', cls: 'ServiceMonitor' },
};

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const manifests = yamlDocs('kubernetes').filter((d) => d.file !== 'kustomization.yaml');
const kind = (k: string): Doc => manifests.find((m) => m.doc.kind === k)!.doc;

/** TypeScript's diagnostics for `const m: IKind = <the manifest>`: an object literal's unknown field is an error. */
function strictDiagnostics(docs: Doc[]): string[] {
  const files = new Map<string, string>();
  docs.forEach((doc, i) => {
    const m = MODELS[`${doc.apiVersion}/${doc.kind}`]!;
    files.set(join(ROOT, 'test/deploy', `manifest-${i}.ts`), `import type { I${m.cls} } from '${m.module}';\nexport const m: I${m.cls} = ${JSON.stringify(doc, null, 1)};\n`);
  });
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022 };
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => (files.has(f) ? ts.createSourceFile(f, files.get(f)!, lang) : getSourceFile.call(host, f, lang, ...rest));
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const doc = docs[Number(/manifest-(\d+)/.exec(d.file?.fileName ?? '')?.[1])];
    return `${doc?.kind}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

describe('deploy/kubernetes', () => {
  it('every manifest is an object the API knows, valid against its schema', async () => {
    expect(manifests.map((m) => `${m.file}: ${m.doc.kind}`)).toEqual([
      'daemonset.yaml: DaemonSet',
      'namespace.yaml: Namespace',
      'service.yaml: Service',
      'serviceaccount.yaml: ServiceAccount',
      'servicemonitor.yaml: ServiceMonitor',
    ]);
    for (const { file, doc } of manifests) {
      const m = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(m, `${file}: ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      const Model = (await import(m!.module))[m!.cls] as new (d: Doc) => { validate(): void };
      expect(() => new Model(doc).validate(), file).not.toThrow();
    }
  });

  it('the schema check has teeth: a wrong type, a missing field and an unknown one are refused', async () => {
    const { DaemonSet } = await import('kubernetes-models/apps/v1/DaemonSet');
    const ds = structuredClone(kind('DaemonSet'));
    ds.spec.template.spec.containers[0].ports[0].containerPort = '9477';
    expect(() => new DaemonSet(ds).validate()).toThrow(/containerPort must be integer/);
    const noSelector = structuredClone(kind('DaemonSet'));
    delete noSelector.spec.selector;
    expect(() => new DaemonSet(noSelector).validate()).toThrow(/selector/);
    const typo = structuredClone(kind('DaemonSet'));
    typo.spec.template.spec.toleration = typo.spec.template.spec.tolerations;
    expect(strictDiagnostics([typo]).join('\n')).toMatch(/may only specify known properties.*\btoleration\b/);
  });

  it('has no field the API does not know (strict, as kubectl --validate=strict)', () => {
    expect(strictDiagnostics(manifests.map((m) => m.doc))).toEqual([]);
  }, 30_000);

  it('kustomization.yaml lists every manifest but the ServiceMonitor (it needs the operator\'s CRDs)', () => {
    const k = yamlDocs('kubernetes').find((d) => d.file === 'kustomization.yaml')!.doc;
    const files = readdirSync(join(DEPLOY, 'kubernetes')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'servicemonitor.yaml');
    expect([...(k.resources as string[])].sort()).toEqual(files.sort());
  });

  it('the DaemonSet runs this version\'s image with serve flags that exist, on every node, with what pmtu-watch needs', () => {
    const ds = kind('DaemonSet');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe(`pmtu-watch:${PACKAGE_VERSION}`);
    expect(c.args[0]).toBe('serve');
    const serve = createProgram().program.commands.find((x) => x.name() === 'serve')!;
    const flags = new Set(serve.options.map((o) => o.long));
    expect(c.args.filter((a: string) => a.startsWith('--')).filter((a: string) => !flags.has(a))).toEqual([]);
    expect(c.args).toContain('--all-netns');
    const listen = c.args[c.args.indexOf('--listen') + 1] as string;
    expect(c.env.find((e: Doc) => e.name === 'PMTU_WATCH_TOKEN').valueFrom.secretKeyRef).toEqual({ name: 'pmtu-watch-token', key: 'token' });
    expect(pod).toMatchObject({ hostNetwork: true, hostPID: true, automountServiceAccountToken: false, serviceAccountName: 'pmtu-watch' });
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' }); // every taint, every effect
    expect(c.resources.requests).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['BPF', 'PERFMON', 'NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'] });

    // One port everywhere: --listen, the container's and host's port, the probe, the annotations, the Service.
    const port = Number(listen.split(':').pop());
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: port, hostPort: port, protocol: 'TCP' }]);
    expect(c.readinessProbe.exec.command.join(' ')).toContain(`http://127.0.0.1:${port}/metrics`);
    expect(ds.spec.template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
    const svc = kind('Service');
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.ports).toEqual([{ name: 'metrics', port, targetPort: 'metrics', protocol: 'TCP' }]);

    // The paths pmtu-watch reads literally are the host's: ip netns's (with later mounts), the kubelet's pod
    // directories, the clsact markers; /proc is the host's through hostPID.
    const mounts = Object.fromEntries((c.volumeMounts as Doc[]).map((m) => [m.mountPath, m]));
    const hostPaths = Object.fromEntries((pod.volumes as Doc[]).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath.path]));
    for (const path of [NETNS_DIRS[0]!, '/var/log/pods', '/run/pmtu-watch', '/sys/kernel/btf', '/sys/fs/bpf']) {
      expect(mounts[path], path).toBeDefined();
      expect(hostPaths[mounts[path].name], path).toBe(path);
    }
    expect(mounts['/run/netns'].mountPropagation).toBe('HostToContainer');
    expect(mounts['/sys/kernel/btf'].readOnly).toBe(true);
    expect(mounts['/run/pmtu-watch'].readOnly).toBeUndefined();
    expect(Object.values(hostPaths)).not.toContain('/proc');
  });

  it('the Service, the ServiceMonitor and the namespace fit the DaemonSet', () => {
    const ds = kind('DaemonSet');
    const podLabels = ds.spec.template.metadata.labels;
    expect(ds.spec.selector.matchLabels).toEqual(podLabels);
    const svc = kind('Service');
    expect(svc.spec.selector).toEqual(podLabels);
    const sm = kind('ServiceMonitor');
    expect(sm.spec.selector.matchLabels).toEqual(svc.metadata.labels);
    expect(sm.spec.namespaceSelector.matchNames).toEqual([svc.metadata.namespace]);
    expect(sm.spec.endpoints[0]).toMatchObject({ port: svc.spec.ports[0].name, path: '/metrics', authorization: { type: 'Bearer', credentials: { name: 'pmtu-watch-token', key: 'token' } } });
    expect(sm.spec.endpoints[0].relabelings).toContainEqual({ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' });
    const ns = kind('Namespace');
    for (const m of manifests.filter((x) => x.doc.kind !== 'Namespace')) expect((m.doc as Doc).metadata.namespace, m.file).toBe(ns.metadata.name);
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
    expect(kind('ServiceAccount').automountServiceAccountToken).toBe(false);
  });

  describe('the readiness probe, run as the kubelet runs it', () => {
    let feed: Feed;
    let command: string[];
    beforeAll(async () => {
      feed = await Feed.start({ host: '127.0.0.1', port: 0, token: 'probe-token', snapshot: () => [] });
      const c = kind('DaemonSet').spec.template.spec.containers[0];
      command = (c.readinessProbe.exec.command as string[]).map((a) => a.replace(':9477/', `:${feed.address().port}/`));
    });
    afterAll(() => feed.close());
    const probe = (env: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const [bin, ...args] = command;
        execFile(bin === 'node' ? process.execPath : bin!, args, { env: { ...process.env, ...env }, timeout: 10_000 }, (e) => resolve(e ? ((e as { code?: number }).code ?? 1) : 0));
      });

    it('is ready with the token, not with another, nor when nothing listens', async () => {
      expect(await probe({ PMTU_WATCH_TOKEN: 'probe-token' })).toBe(0);
      expect(await probe({ PMTU_WATCH_TOKEN: 'wrong' })).toBe(1);
      await feed.close();
      expect(await probe({ PMTU_WATCH_TOKEN: 'probe-token' })).toBe(1);
    });
  });
});
