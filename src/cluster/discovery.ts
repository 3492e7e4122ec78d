// The nodes of a Kubernetes headless Service: its DNS name resolves to one
// A/AAAA record per ready pod (a DaemonSet's pod on each node), so the
// endpoints are a lookup of the name, made again every `everyMs` as pods
// come and go. A lookup that fails keeps the endpoints of the last one that
// worked (a DNS hiccup must not make every node vanish).

import { PmtuError } from '../errors.js';

export interface Resolver {
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
}

export interface ServiceName {
  /** As given: NAME.NAMESPACE.svc[.cluster.local]. */
  host: string;
  port: number;
}

/** `NAME.NAMESPACE.svc:PORT` (or `...svc.cluster.local:PORT`, or any DNS name). */
export function parseService(text: string): ServiceName {
  const m = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?):(\d{1,5})$/i.exec(text);
  const port = m ? Number(m[5]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new PmtuError('PMTU_ERR_USAGE', `not a service to discover nodes from: ${JSON.stringify(text)}`, 'e.g. --service pmtu-watch.kube-system.svc:9477 (a headless Service)');
  }
  return { host: m[1]!, port };
}

export interface Endpoint {
  /** The node's name in cluster's feed: its pod address. */
  name: string;
  url: string;
}

/** At most this many endpoints are followed (the first by address order). */
export const MAX_ENDPOINTS = 512;

function endpointOf(addr: string, port: number): Endpoint {
  return { name: addr, url: `ws://${addr.includes(':') ? `[${addr}]` : addr}:${port}/feed` };
}

export interface Resolution {
  endpoints: Endpoint[];
  /** Set when the lookup failed (the endpoints are the last ones that worked). */
  error?: string;
}

export class ServiceDiscovery {
  private last: Endpoint[] | undefined;

  constructor(
    private readonly service: ServiceName,
    private readonly resolver: Resolver,
  ) {}

  /** One lookup of A and AAAA; no record of either family is not an error (a single-stack cluster). */
  async resolve(): Promise<Resolution> {
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(this.service.host), this.resolver.resolve6(this.service.host)]);
    const found: string[] = [];
    for (const r of [v4, v6]) if (r.status === 'fulfilled') found.push(...r.value);
    if (v4.status === 'rejected' && v6.status === 'rejected') {
      // Neither family answered (NXDOMAIN for a service with no ready pod looks the same as a DNS outage): keep the last.
      return { endpoints: this.last ?? [], error: `cannot resolve ${this.service.host}: ${(v4.reason as Error).message}` };
    }
    const addrs = [...new Set(found)].sort().slice(0, MAX_ENDPOINTS);
    this.last = addrs.map((a) => endpointOf(a, this.service.port));
    return { endpoints: this.last };
  }
}
