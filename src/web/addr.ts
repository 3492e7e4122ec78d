// Addresses and flows as the page needs them: the same flow key the
// correlator uses (either direction is one flow), and prefix matching for
// route lookups in audit's configuration. Runs in the browser: no Node APIs.

import type { FlowJson } from '../contract/verdict.js';

function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Both directions of a flow give one key (src/correlate/correlator.ts's flowKey, which the page cannot import). */
export function flowKey(f: FlowJson): string {
  const a = endpoint(f.src, f.sport);
  const b = endpoint(f.dst, f.dport);
  return `${f.proto}|${a < b ? `${a}>${b}` : `${b}>${a}`}`;
}

export function flowText(f: FlowJson): string {
  const ports = f.sport || f.dport;
  return ports ? `${f.proto} ${endpoint(f.src, f.sport)} → ${endpoint(f.dst, f.dport)}` : `${f.proto} ${f.src} → ${f.dst}`;
}

/** An address as a number (IPv4: 32 bits, IPv6: 128), or undefined when it is not one. */
export function parseAddr(text: string): { family: 4 | 6; value: bigint } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (!/^[0-9a-fA-F:]{2,39}$/.test(text) || !text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** Whether `addr` is in `prefix` ('default', 'A/LEN' or a bare address). */
export function inPrefix(addr: string, prefix: string, family: 4 | 6): boolean {
  const a = parseAddr(addr);
  if (!a || a.family !== family) return false;
  if (prefix === 'default') return true;
  const [net, lenText] = prefix.split('/');
  const n = parseAddr(net ?? '');
  if (!n || n.family !== family) return false;
  const bits = family === 4 ? 32 : 128;
  const len = lenText === undefined ? bits : Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > bits) return false;
  const shift = BigInt(bits - len);
  return a.value >> shift === n.value >> shift;
}

export function prefixLen(prefix: string, family: 4 | 6): number {
  if (prefix === 'default') return 0;
  const len = prefix.split('/')[1];
  return len === undefined ? (family === 4 ? 32 : 128) : Number(len);
}

/** An address a path can start or end at: not loopback, not link-local. */
export function routable(addr: string): boolean {
  return !addr.startsWith('127.') && addr !== '::1' && !addr.toLowerCase().startsWith('fe80:');
}
