// `audit --save FILE` and `audit --against FILE`: a host's network
// configuration kept as it is on a good day (or on a host that works), and
// what differs from it now, as findings with the known-good value as the fix.
// Seed 000's author did this by hand: the Proxmox cluster that was not
// upgraded still passed jumbo frames, and its taps were at 9000. Pure:
// snapshots in, findings out.

import { PmtuError } from '../errors.js';
import { ipCommand, routeDst, sysctlCommand } from './rules.js';
import type { AuditSnapshot, Finding, NetnsConfig } from './types.js';

export const BASELINE_FORMAT = 'pmtu-watch-audit-baseline';
export const BASELINE_VERSION = 1;

export interface BaselineLink {
  name: string;
  kind: string;
  mtu: number;
  up: boolean;
  /** The bridge (or bond) it is in, by name; '' when none. */
  master: string;
}

export interface BaselineRoute {
  family: 4 | 6;
  /** 'default' or PREFIX/LEN. */
  dst: string;
  gateway: string;
  device: string;
  mtu: number;
  advmss: number;
}

export interface BaselineNetns {
  netns: string;
  links: BaselineLink[];
  /** net.ipv4.conf.{all,IFACE}.rp_filter as read. */
  rpFilter: Record<string, number>;
  routes: BaselineRoute[];
}

export interface Baseline {
  format: typeof BASELINE_FORMAT;
  version: number;
  host: string;
  /** Epoch ms. */
  savedAt: number;
  namespaces: BaselineNetns[];
}

const RT_TABLE_MAIN = 254;

function netnsBaseline(ns: NetnsConfig): BaselineNetns {
  const name = (ifindex: number) => ns.links.find((l) => l.ifindex === ifindex)?.name ?? '';
  return {
    netns: ns.label,
    links: ns.links.map((l) => ({ name: l.name, kind: l.kind, mtu: l.mtu, up: l.up, master: l.master ? name(l.master) : '' })),
    rpFilter: Object.fromEntries(ns.rpFilter),
    routes: ns.routes
      .filter((r) => r.table === RT_TABLE_MAIN && r.oif)
      .map((r) => ({ family: r.family, dst: routeDst(r), gateway: r.gateway, device: name(r.oif), mtu: r.mtu, advmss: r.advmss })),
  };
}

/** The audited namespaces of a snapshot, as a file keeps them. */
export function toBaseline(snapshot: AuditSnapshot, host: string, savedAt: number): Baseline {
  return { format: BASELINE_FORMAT, version: BASELINE_VERSION, host, savedAt, namespaces: snapshot.namespaces.filter((ns) => ns.inScope).map(netnsBaseline) };
}

/** A saved baseline read back; anything else is one clear error. */
export function parseBaseline(text: string, file: string): Baseline {
  let b: Partial<Baseline>;
  try {
    b = JSON.parse(text) as Partial<Baseline>;
  } catch {
    throw new PmtuError('PMTU_ERR_INVALID', `${file} is not an audit baseline (not JSON)`, 'make one with: pmtu-watch audit --save FILE');
  }
  if (b?.format !== BASELINE_FORMAT || !Array.isArray(b.namespaces)) throw new PmtuError('PMTU_ERR_INVALID', `${file} is not an audit baseline`, 'make one with: pmtu-watch audit --save FILE');
  if (b.version !== BASELINE_VERSION) throw new PmtuError('PMTU_ERR_INVALID', `${file} is an audit baseline of version ${b.version}; this pmtu-watch reads version ${BASELINE_VERSION}`);
  return b as Baseline;
}

function when(b: Baseline): string {
  return `${b.host} at ${new Date(b.savedAt).toISOString().replace('.000Z', 'Z')}`;
}

/**
 * What differs now from the baseline, namespace by namespace (by name) and
 * device by device (by name): MTUs, masters, up/down, rp_filter, route mtu and
 * advmss (warnings: each can drop large packets), devices added or gone
 * (info: guests come and go). Namespaces only one side has are compared with
 * nothing.
 */
export function compareBaseline(baseline: Baseline, now: AuditSnapshot): Finding[] {
  const findings: Finding[] = [];
  const since = when(baseline);
  for (const ns of now.namespaces.filter((n) => n.inScope)) {
    const was = baseline.namespaces.find((b) => b.netns === ns.label);
    if (!was) continue;
    const cur = netnsBaseline(ns);
    const ip = (args: string) => ipCommand(ns, args);
    const add = (device: string, severity: Finding['severity'], summary: string, numbers: Record<string, number>, fix: string[]) =>
      findings.push({ rule: 'differs-from-baseline', severity, netns: ns.label, device, related: [], summary: `${summary} (the baseline: ${since})`, numbers, fix });
    for (const l of cur.links) {
      const old = was.links.find((x) => x.name === l.name);
      if (!old) {
        add(l.name, 'info', `${l.kind || 'device'} ${l.name} is new: MTU ${l.mtu}${l.master ? `, in ${l.master}` : ''}`, { mtu: l.mtu }, []);
        continue;
      }
      if (old.mtu !== l.mtu) add(l.name, 'warning', `${l.name} MTU ${old.mtu} -> ${l.mtu}`, { was: old.mtu, now: l.mtu }, [ip(`link set dev ${l.name} mtu ${old.mtu}`)]);
      if (old.master !== l.master) {
        const what = !l.master ? `left ${old.master}` : !old.master ? `joined ${l.master}` : `moved from ${old.master} to ${l.master}`;
        add(l.name, 'warning', `${l.name} ${what}`, {}, [old.master ? ip(`link set dev ${l.name} master ${old.master}`) : ip(`link set dev ${l.name} nomaster`)]);
      }
      if (old.up !== l.up) add(l.name, 'warning', `${l.name} is ${l.up ? 'up' : 'down'}, was ${old.up ? 'up' : 'down'}`, {}, [ip(`link set dev ${l.name} ${old.up ? 'up' : 'down'}`)]);
    }
    for (const old of was.links) if (!cur.links.some((l) => l.name === old.name)) add(old.name, 'info', `${old.kind || 'device'} ${old.name} is gone (it was at MTU ${old.mtu}${old.master ? `, in ${old.master}` : ''})`, { was: old.mtu }, []);
    for (const [key, value] of Object.entries(cur.rpFilter)) {
      const old = was.rpFilter[key];
      if (old === undefined || old === value) continue;
      const setting = `net.ipv4.conf.${key.replace(/\./g, '/')}.rp_filter`;
      add(key, 'warning', `${setting} ${old} -> ${value}`, { was: old, now: value }, [sysctlCommand(ns, `${setting}=${old}`)]);
    }
    for (const r of cur.routes) {
      const old = was.routes.find((x) => x.family === r.family && x.dst === r.dst && x.device === r.device);
      if (!old) continue;
      for (const metric of ['mtu', 'advmss'] as const) {
        if (old[metric] === r[metric]) continue;
        const six = r.family === 6 ? '-6 ' : '';
        add(r.device, 'warning', `route ${r.dst} dev ${r.device}: ${metric} ${old[metric] || 'unset'} -> ${r[metric] || 'unset'}`, { was: old[metric], now: r[metric] }, [
          ip(`${six}route change ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.device}${old[metric] ? ` ${metric} ${old[metric]}` : ''}`),
        ]);
      }
    }
  }
  return findings;
}
