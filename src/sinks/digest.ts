// The digest of a capture (`pmtu-watch report`, the bench): its events run
// through a session — the correlator live uses — beside what the recording
// wrote, and the readable incident report made of it: the recording, the
// start snapshot, the verdicts, what changed by the end, where reading stopped.

import { createHash } from 'node:crypto';

import type { CaptureRecord, End, Header, NamespaceState, Route, Snapshot } from '../capture/types.js';
import { type Correlator, severity, TROUBLE } from '../correlate/correlator.js';
import type { StreamEvent } from '../contract/event.js';
import type { StatsJson } from '../contract/stats.js';
import { verdictText } from '../contract/text.js';
import type { VerdictJson } from '../contract/verdict.js';
import { PmtuError } from '../errors.js';
import { Session } from '../session.js';
import { CaptureSource } from '../sources/capture.js';
import type { Sink } from './sink.js';

/** What a capture holds, gathered in one pass (bounded: the correlator bounds its flows). */
export interface Digest {
  header: Header;
  correlator: Correlator;
  events: number;
  byKind: Record<string, number>;
  packets: number;
  firstTs?: number;
  lastTs?: number;
  /** Verdict changes the correlator gave now, and the ones the recording wrote. */
  verdicts: number;
  recordedVerdicts: number;
  /** Whether the two sequences are the same, line for line. */
  sameAsRecorded: boolean;
  start?: Snapshot;
  end?: Snapshot;
  lastStats?: StatsJson;
  notes: { time: number; text: string }[];
  endRecord?: End;
  stop: string;
  /** Corruption that stopped the reading (what came before is in the digest). */
  failure?: PmtuError;
}

const MAX_NOTES = 100;

/** Gathers a digest from a session over a capture: what the correlator gives now beside what the recording wrote. */
class DigestSink implements Sink {
  /** It counts the events that carry one. */
  readonly packets = true;
  private readonly now = createHash('sha256');
  private readonly recordedHash = createHash('sha256');

  constructor(
    readonly d: Digest,
    private readonly onVerdict?: (v: VerdictJson) => void,
  ) {}

  event(ev: StreamEvent, snap?: Buffer): void {
    const d = this.d;
    d.events++;
    d.byKind[ev.kind] = (d.byKind[ev.kind] ?? 0) + 1;
    if (snap?.length) d.packets++;
    d.firstTs = Math.min(d.firstTs ?? ev.ts, ev.ts);
    d.lastTs = Math.max(d.lastTs ?? ev.ts, ev.ts);
  }

  verdict(v: VerdictJson): void {
    this.d.verdicts++;
    this.now.update(`${JSON.stringify(v)}\n`);
    this.onVerdict?.(v);
  }

  stats(s: StatsJson): void {
    this.d.lastStats = s;
  }

  recorded(rec: Exclude<CaptureRecord, { type: 'event' | 'stats' }>): void {
    const d = this.d;
    switch (rec.type) {
      case 'verdict':
        d.recordedVerdicts++;
        this.recordedHash.update(`${JSON.stringify(rec.verdict)}\n`);
        break;
      case 'snapshot':
        if (rec.snapshot.moment === 'start') d.start ??= rec.snapshot;
        else d.end = rec.snapshot;
        break;
      case 'note':
        if (d.notes.length < MAX_NOTES) d.notes.push({ time: rec.time, text: rec.text });
        break;
      case 'end':
        d.endRecord = rec.end;
        break;
    }
  }

  same(): boolean {
    return this.d.verdicts === this.d.recordedVerdicts && this.now.digest('hex') === this.recordedHash.digest('hex');
  }
}

/** Reads a capture through a session (the correlator live uses); onVerdict sees each verdict change as it happens. */
export function digest(file: string, onVerdict?: (v: VerdictJson) => void): Digest {
  const source = CaptureSource.open(file);
  const session = new Session(source);
  const d: Digest = {
    header: source.reader.header,
    correlator: session.correlator,
    events: 0,
    byKind: {},
    packets: 0,
    verdicts: 0,
    recordedVerdicts: 0,
    sameAsRecorded: true,
    notes: [],
    stop: '',
  };
  const sink = new DigestSink(d, onVerdict);
  session.add(sink);
  try {
    source.playAll();
  } catch (e) {
    if (!(e instanceof PmtuError)) throw e;
    d.failure = e;
  } finally {
    session.close();
  }
  d.sameAsRecorded = sink.same();
  d.stop = source.describeStop();
  return d;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function routeText(r: Route): string {
  return [
    r.dst,
    r.gateway && `via ${r.gateway}`,
    r.dev && `dev ${r.dev}`,
    r.prefsrc && `src ${r.prefsrc}`,
    r.metric !== undefined && `metric ${r.metric}`,
    r.mtu !== undefined && `mtu ${r.mtu}`,
    r.expires !== undefined && `expires ${r.expires}s`,
  ]
    .filter(Boolean)
    .join(' ');
}

const SHORT_SYSCTL = /^net\.ipv4\./;

/** One namespace's state as items: stable text per fact, so two snapshots can be compared. */
function items(ns: NamespaceState): { key: string; text: string }[] {
  const out: { key: string; text: string }[] = [];
  for (const l of ns.links) out.push({ key: `link ${l.name}`, text: `link ${l.name} mtu ${l.mtu}${l.up ? '' : ' (down)'}` });
  for (const s of ns.sysctls) out.push({ key: `sysctl ${s.name}`, text: `${s.name.replace(SHORT_SYSCTL, '')} = ${s.value}` });
  for (const r of ns.routes) {
    const what = r.cached ? 'cached' : 'route';
    out.push({ key: `${what} ${r.family} ${r.dst} ${r.dev} ${r.gateway ?? ''} ${r.mtu ?? ''}`, text: `${what} ${routeText(r)}` });
  }
  return out;
}

function namespaceLines(ns: NamespaceState): string[] {
  const lines = [`  ${ns.name}${ns.inode ? ` (netns inode ${ns.inode})` : ''}`];
  const links = ns.links.map((l) => `${l.name} ${l.mtu}${l.up ? '' : ' (down)'}`).join(', ');
  if (links) lines.push(`    links (mtu): ${links}`);
  const rp = ns.sysctls.filter((s) => s.name.endsWith('.rp_filter'));
  if (rp.length) {
    lines.push(`    rp_filter: ${rp.map((s) => `${s.name.split('.').at(-2)} ${s.value}`).join(', ')} (an interface's is the larger of all and its own)`);
  }
  const other = ns.sysctls.filter((s) => !s.name.endsWith('.rp_filter'));
  if (other.length) lines.push(`    sysctls: ${other.map((s) => `${s.name.replace(SHORT_SYSCTL, '')} ${s.value}`).join(', ')}`);
  for (const r of ns.routes) lines.push(`    ${r.cached ? 'cached' : 'route'}: ${routeText(r)}`);
  for (const l of ns.lookups) lines.push(`    ${lookupText(l)}`);
  for (const p of ns.problems) lines.push(`    (not read: ${p})`);
  return lines;
}

function lookupText(l: NamespaceState['lookups'][number]): string {
  if (!l.found) return `route get ${l.dst}: no route`;
  return `route get ${l.dst}: dev ${l.dev || '?'}, ${l.mtu ? `cached path mtu ${l.mtu} (expires in ${l.expires}s)` : 'no cached path mtu'}`;
}

/** The end snapshot as what changed since the start (a namespace new at the end in full). */
function endLines(start: Snapshot | undefined, end: Snapshot): string[] {
  const lines: string[] = [];
  for (const ns of end.namespaces) {
    const before = start?.namespaces.find((s) => s.name === ns.name);
    if (!before) {
      lines.push(...namespaceLines(ns));
      continue;
    }
    const was = new Map(items(before).map((i) => [i.key, i.text]));
    const is = new Map(items(ns).map((i) => [i.key, i.text]));
    const changes: string[] = [];
    for (const [k, text] of is) {
      const old = was.get(k);
      if (old === undefined) changes.push(`    + ${text}`);
      else if (old !== text && !k.startsWith('cached')) changes.push(`    ~ ${text} (was: ${old})`);
    }
    for (const [k, text] of was) if (!is.has(k)) changes.push(`    - ${text}`);
    for (const l of ns.lookups) changes.push(`    ${lookupText(l)}`);
    for (const p of ns.problems) changes.push(`    (not read: ${p})`);
    lines.push(`  ${ns.name}: ${changes.length ? '' : 'no change'}`.trimEnd(), ...changes);
  }
  return lines;
}

/** The readable report of a digest, line by line. */
export function reportLines(file: string, d: Digest): string[] {
  const h = d.header;
  const out: string[] = [];
  const endTime = d.endRecord?.time ?? d.end?.time ?? d.lastTs;
  const span = endTime !== undefined ? ` for ${((endTime - h.startTime) / 1000).toFixed(1)} s` : '';
  out.push(`capture ${file}`);
  out.push(`  recorded by ${h.tool} on ${h.host} (kernel ${h.kernel}), from ${iso(h.startTime)}${span}${d.endRecord ? `, ended by ${d.endRecord.reason}` : ''}`);
  const ifaces = h.interfaces.map((i) => `${i.netns}/${i.name} ${i.mtu}`).join(', ');
  out.push(`  watched ${h.interfaces.length} interface(s)${ifaces ? `: ${ifaces}` : ''}; namespaces snapshotted: ${h.namespaces.join(', ') || 'none'}`);
  const kinds = Object.entries(d.byKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  out.push(`  ${d.events} events${kinds ? ` (${kinds})` : ''}, ${d.packets} with packet snapshots, ${d.verdicts} verdict changes`);
  if (d.lastStats) {
    const l = d.lastStats.losses;
    out.push(`  lost while recording: ${l.ringbufFull} ring buffer full, ${l.queueFull} queue full, ${l.flowTableFull} flow table full, ${l.unknownRecords} unknown records`);
  }
  if (!d.sameAsRecorded) {
    out.push(`  note: the recording wrote ${d.recordedVerdicts} verdict changes; this correlator gives ${d.verdicts}, not all the same (another version of pmtu-watch recorded it)`);
  }

  out.push('', d.start ? `start snapshot (${iso(d.start.time)}):` : 'start snapshot: none in the capture');
  for (const ns of d.start?.namespaces ?? []) out.push(...namespaceLines(ns));

  const verdicts = d.correlator.verdicts();
  const troubled = verdicts.filter((v) => severity(v.verdict) >= TROUBLE).length;
  out.push('', `verdicts: ${verdicts.length} flow(s), ${troubled} in trouble (most serious first)`);
  for (const v of verdicts) out.push(...verdictText(v).split('\n').map((l) => `  ${l}`));

  out.push('', d.end ? `end snapshot (${iso(d.end.time)}), what changed since the start:` : 'end snapshot: none in the capture (the recording did not finish)');
  if (d.end) out.push(...endLines(d.start, d.end));

  if (d.notes.length) {
    out.push('', 'notes while recording:');
    for (const n of d.notes) out.push(`  ${iso(n.time).slice(11, 23)} ${n.text}`);
  }
  out.push('', `read: ${d.stop}`);
  return out;
}
