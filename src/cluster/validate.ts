// What a node's feed sends is checked before cluster merges it: a node is
// another process on the network, and one broken (or hostile) message must
// not end the cluster for every other node. Only the shape cluster relies on.

import type { ServerMessage } from '../feed/protocol.js';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown) => typeof x === 'string' && x.length <= 256;
const optStr = (x: unknown) => x === undefined || x === null || str(x);
const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);

function flowOk(f: unknown): boolean {
  return isObj(f) && str(f.src) && str(f.dst) && num(f.sport) && num(f.dport) && (str(f.proto) || num(f.proto));
}

export function validVerdict(v: unknown): boolean {
  return (
    isObj(v) &&
    v.type === 'verdict' &&
    str(v.verdict) &&
    num(v.ts) &&
    flowOk(v.flow) &&
    isObj(v.where) &&
    optStr(v.where.netns) &&
    optStr(v.where.iface) &&
    optStr(v.where.hop) &&
    (v.mtu === null || num(v.mtu)) &&
    (v.cause === null || str(v.cause)) &&
    (v.fix === null || typeof v.fix === 'string') &&
    Array.isArray(v.evidence) &&
    Array.isArray(v.notes) &&
    v.node === undefined // a node's feed is not a cluster's
  );
}

export function validEvent(e: unknown): boolean {
  if (!isObj(e) || e.type !== 'event' || !str(e.kind) || !num(e.ts) || !str(e.netns) || e.node !== undefined) return false;
  if (e.kind === 'link') return str(e.iface);
  if (e.kind === 'route') return isObj(e.inner) && flowOk({ ...e.inner });
  return str(e.iface) && Array.isArray(e.flags) && optStr(e.src) && optStr(e.dst) && (e.inner === undefined || flowOk(e.inner));
}

export function validNodeMessage(m: ServerMessage): boolean {
  const x = m as unknown;
  if (!isObj(x)) return false;
  if (x.type === 'snapshot') return Array.isArray(x.verdicts) && x.verdicts.length <= 65536 && x.verdicts.every(validVerdict);
  if (x.type === 'verdict') return validVerdict(x);
  if (x.type === 'event') return validEvent(x);
  return false;
}
