// Discovery of a headless Service's endpoints with a fake resolver: no DNS.

import { describe, expect, it } from 'vitest';

import { parseService, ServiceDiscovery, type Resolver } from '../../src/cluster/discovery.js';

function resolver(answers: { v4?: string[] | Error; v6?: string[] | Error }[]): Resolver & { calls: string[] } {
  let i = 0;
  const calls: string[] = [];
  const pick = (k: 'v4' | 'v6') => {
    const a = answers[Math.min(i, answers.length - 1)]![k];
    if (a instanceof Error) return Promise.reject(a);
    return Promise.resolve(a ?? []);
  };
  return {
    calls,
    resolve4(host) {
      calls.push(`A ${host}`);
      return pick('v4');
    },
    resolve6(host) {
      calls.push(`AAAA ${host}`);
      const r = pick('v6');
      i++;
      return r;
    },
  };
}

const nodata = () => Object.assign(new Error('queryAaaa ENODATA'), { code: 'ENODATA' });

describe('parseService', () => {
  it('takes NAME.NAMESPACE.svc:PORT and longer DNS names', () => {
    expect(parseService('pmtu-watch.kube-system.svc:9477')).toEqual({ host: 'pmtu-watch.kube-system.svc', port: 9477 });
    expect(parseService('pmtu-watch.kube-system.svc.cluster.local:9477').host).toBe('pmtu-watch.kube-system.svc.cluster.local');
  });
  it('refuses what is not a name and a port', () => {
    for (const bad of ['pmtu-watch', 'pmtu-watch:0', 'a b.svc:1', 'x.svc:99999', 'http://x.svc:1']) expect(() => parseService(bad)).toThrow(/not a service/);
  });
});

describe('ServiceDiscovery', () => {
  it('makes one endpoint per A and AAAA record, named by its address, sorted', async () => {
    const r = resolver([{ v4: ['198.18.0.12', '198.18.0.11'], v6: ['2001:db8::5'] }]);
    const d = new ServiceDiscovery(parseService('pmtu-watch.kube-system.svc:9477'), r);
    const res = await d.resolve();
    expect(res.error).toBeUndefined();
    expect(res.endpoints).toEqual([
      { name: '198.18.0.11', url: 'ws://198.18.0.11:9477/feed' },
      { name: '198.18.0.12', url: 'ws://198.18.0.12:9477/feed' },
      { name: '2001:db8::5', url: 'ws://[2001:db8::5]:9477/feed' },
    ]);
    expect(r.calls).toEqual(['A pmtu-watch.kube-system.svc', 'AAAA pmtu-watch.kube-system.svc']);
  });

  it('follows pods that come and go; a single-stack answer is no error', async () => {
    const r = resolver([{ v4: ['198.18.0.11'], v6: nodata() }, { v4: ['198.18.0.11', '198.18.0.13'], v6: nodata() }, { v4: ['198.18.0.13'], v6: nodata() }]);
    const d = new ServiceDiscovery(parseService('svc.ns.svc:1'), r);
    expect((await d.resolve()).endpoints.map((e) => e.name)).toEqual(['198.18.0.11']);
    expect((await d.resolve()).endpoints.map((e) => e.name)).toEqual(['198.18.0.11', '198.18.0.13']);
    const last = await d.resolve();
    expect(last.error).toBeUndefined();
    expect(last.endpoints.map((e) => e.name)).toEqual(['198.18.0.13']);
  });

  it('keeps the last endpoints when the lookup fails, and says why', async () => {
    const fail = Object.assign(new Error('queryA ETIMEOUT svc.ns.svc'), { code: 'ETIMEOUT' });
    const r = resolver([{ v4: ['198.18.0.11'] }, { v4: fail, v6: fail }]);
    const d = new ServiceDiscovery(parseService('svc.ns.svc:1'), r);
    await d.resolve();
    const res = await d.resolve();
    expect(res.error).toMatch(/cannot resolve svc\.ns\.svc: queryA ETIMEOUT/);
    expect(res.endpoints.map((e) => e.name)).toEqual(['198.18.0.11']);
  });
});
