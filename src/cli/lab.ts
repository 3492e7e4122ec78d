// `pmtu-watch lab`: build the field failures of SCENARIOS.md in network
// namespaces on this machine, leave them up to explore (and take them down
// from another process), or run a demo that drives traffic through one while
// pmtu-watch watches, then tears it all down — also on Ctrl-C.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { flowKey, severity } from '../correlate/correlator.js';
import type { LinkEventJson } from '../contract/event.js';
import { linkText, verdictText } from '../contract/text.js';
import type { VerdictJson } from '../contract/verdict.js';
import { oneLine, PmtuError } from '../errors.js';
import { NetLab, listNetns, ownerState, reapStale, selfIdentity } from '../lab/netlab.js';
import { SCENARIOS, capturePoints, describeStep, expectedText, isCutOff, meetsCutOff, meetsExpected, scenario, type Built, type DriveStep, type Scenario } from '../lab/scenarios.js';
import { recordPackets, type PacketRecording } from '../lab/traffic.js';
import { claimState, judge, listStates, readState, removeState, writeState, type LabState } from '../lab/state.js';
import type { Observer, ObserverOptions } from '../observer/index.js';
import { Session } from '../session.js';
import { KernelSource } from '../sources/kernel.js';
import type { Io } from './io.js';

export interface LabDeps {
  open: (opts: ObserverOptions) => Observer;
}

function find(name: string): Scenario {
  const sc = scenario(name);
  if (!sc) {
    throw new PmtuError('PMTU_ERR_USAGE', `no scenario named "${name}"`, `pmtu-watch lab list shows them: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  }
  return sc;
}

/** Shows full namespace names by their role, which is what a person reads. */
function byRole(text: string, ns: Record<string, string>): string {
  let out = text;
  // Longest first: one full name may be a prefix of another's.
  for (const [role, full] of Object.entries(ns).sort((a, b) => b[1].length - a[1].length)) out = out.split(full).join(role);
  return out;
}

/** Removes what a state file describes (its lab's namespaces and the file). Returns the namespaces removed. */
async function removeUp(s: LabState): Promise<string[]> {
  const removed = s.prefix ? await NetLab.remove(s.prefix) : [];
  removed.push(...(await NetLab.removePersistent(s.scenario)));
  removeState(s.scenario);
  return removed;
}

/**
 * Leftovers of dead owners: labs of processes that died before tearing down
 * (a killed demo or test), and scenarios whose `lab up` died while building.
 * Returns one line per thing removed.
 */
async function cleanDead(): Promise<string[]> {
  const lines: string[] = [];
  const reaped = await reapStale();
  if (reaped.reaped.length) lines.push(`removed ${reaped.reaped.length} namespaces of labs whose process died`);
  for (const { name, state } of listStates()) {
    if (!state || state.status !== 'building') continue;
    const j = judge(state, [], ownerState(state.owner));
    if (j.is !== 'stale') continue;
    const gone = await removeUp(state);
    lines.push(`removed ${name}, left half-built by pid ${state.owner.pid} (${gone.length} namespaces)`);
  }
  return lines;
}

export async function labList(io: Io): Promise<number> {
  const existing = await listNetns().catch(() => [] as string[]);
  const marks = new Map<string, string>();
  for (const { name, state, error } of listStates()) {
    if (error) marks.set(name, '[state unreadable]');
    else if (state) {
      const j = judge(state, existing, ownerState(state.owner));
      marks.set(name, j.is === 'up' ? '[up]' : j.is === 'building' ? `[being built by pid ${j.pid}]` : '[stale: lab down removes it]');
    }
  }
  for (const sc of SCENARIOS) {
    const mark = marks.get(sc.name);
    io.out(`${String(sc.number).padStart(2)}  ${sc.name.padEnd(18)} ${sc.title}${mark ? `  ${mark}` : ''}`);
    io.out(`    ${sc.description}`);
    if (sc.limits) io.out(`    Note: ${sc.limits}`);
  }
  return 0;
}

function printBuilt(sc: Scenario, built: Pick<Built, 'ns' | 'addrs' | 'tryThis' | 'elsewhere'>, io: Io): void {
  io.out(`${sc.number} ${sc.name}: ${sc.title}`);
  io.out('namespaces:');
  for (const [role, ns] of Object.entries(built.ns)) io.out(`  ${role.padEnd(5)} ${ns}`);
  for (const [role, ns] of Object.entries(built.elsewhere ?? {})) io.out(`  ${role.padEnd(5)} ${ns}   (beyond this host: not watched)`);
  io.out('addresses:');
  for (const [name, addr] of Object.entries(built.addrs)) io.out(`  ${name.padEnd(5)} ${addr}`);
  io.out('try:');
  for (const line of built.tryThis) io.out(`  ${line}`);
  const netns = Object.values(built.ns).map((n) => `--netns ${n}`).join(' ');
  io.out(`  pmtu-watch live ${netns}`);
  io.out(`  pmtu-watch audit ${netns}`);
}

/**
 * Builds a scenario and leaves it up after this process exits; records it in
 * /run/pmtu-watch/lab so `lab down` (from any process) removes it. Refuses a
 * scenario that is up or being built; cleans one left stale first. A build
 * that fails or is interrupted leaves nothing behind.
 */
export async function labUp(name: string, io: Io): Promise<number> {
  let claimed: string | undefined;
  // Registered before the lab's own handlers, so it runs first: the lab's then tears down and dies of the signal.
  const onSignal = () => {
    if (claimed) removeState(claimed);
  };
  try {
    const sc = find(name);
    const old = readState(sc.name);
    if (old) {
      const j = judge(old, await listNetns(), ownerState(old.owner));
      if (j.is === 'up') throw new PmtuError('PMTU_ERR_LAB', `scenario ${sc.name} is up already`, `pmtu-watch lab down ${sc.name} removes it`);
      if (j.is === 'building') throw new PmtuError('PMTU_ERR_LAB', `scenario ${sc.name} is being built by pid ${j.pid}`, `wait for it, or pmtu-watch lab down ${sc.name} once it is up`);
      io.err(`pmtu-watch lab: removing a stale ${sc.name} (${j.why})`);
      await removeUp(old);
    }
    const state: LabState = {
      version: 1,
      scenario: sc.name,
      number: sc.number,
      status: 'building',
      ns: {},
      addrs: {},
      tryThis: [],
      created: new Date().toISOString(),
      owner: selfIdentity(),
    };
    if (!claimState(state)) throw new PmtuError('PMTU_ERR_LAB', `scenario ${sc.name} is being brought up by another process`, `pmtu-watch lab list shows it`);
    claimed = sc.name;
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
    // An ordinary lab until built: torn down on failure, exit or signals.
    const lab = await NetLab.create('lab');
    let built: Built;
    try {
      writeState({ ...state, prefix: lab.prefix });
      built = await sc.build(lab);
      lab.persist(sc.name);
      writeState({ ...state, status: 'up', prefix: lab.prefix, ns: built.ns, addrs: built.addrs, tryThis: built.tryThis });
    } catch (e) {
      await lab.teardown().catch(() => {});
      throw e;
    }
    claimed = undefined;
    printBuilt(sc, built, io);
    io.out(`remove it with: pmtu-watch lab down ${sc.name}`);
    return 0;
  } catch (e) {
    if (claimed) removeState(claimed);
    io.err(oneLine(e));
    return 1;
  } finally {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
  }
}

/** Removes a scenario `lab up` left running, and whatever dead owners left behind. */
export async function labDown(name: string, io: Io): Promise<number> {
  try {
    const sc = find(name);
    let state: LabState | undefined;
    let unreadable = false;
    try {
      state = readState(sc.name);
    } catch {
      unreadable = true; // removed below all the same
    }
    if (state) {
      const j = judge(state, [], ownerState(state.owner));
      if (j.is === 'building') throw new PmtuError('PMTU_ERR_LAB', `scenario ${sc.name} is being built by pid ${j.pid}`, `run pmtu-watch lab down ${sc.name} once it is up`);
    }
    const removed = state ? await removeUp(state) : await NetLab.removePersistent(sc.name);
    if (unreadable) removeState(sc.name);
    const others = await cleanDead();
    if (!state && !unreadable && removed.length === 0) {
      for (const l of others) io.out(l);
      throw new PmtuError('PMTU_ERR_LAB', `scenario ${sc.name} is not up`, 'pmtu-watch lab list marks those that are');
    }
    io.out(`removed ${removed.length} namespaces of ${sc.name}`);
    for (const l of others) io.out(l);
    return 0;
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }
}

/** A running observer of a demo's namespaces; stop() ends it and returns each flow's last verdict, and how many flows the kernel saw. */
export interface Watcher {
  stop(): Promise<Seen>;
}

/** What a watcher saw: the last verdict of each flow, the kernel's flow count, link changes and warnings. */
export interface Seen {
  verdicts: VerdictJson[];
  flows: number;
  links?: LinkEventJson[];
  warnings?: string[];
}

/** A scenario's pcap file for one capture point: NAME-ROLE-IFACE.pcap. */
export function pcapName(sc: Pick<Scenario, 'name'>, at: { role: string; ifname: string }): string {
  return `${sc.name}-${at.role}-${at.ifname}.pcap`;
}

/** tcpdump on each of the scenario's capture points, writing into `dir`. */
export async function recordAt(lab: NetLab, sc: Scenario, built: Built, dir: string): Promise<PacketRecording[]> {
  mkdirSync(dir, { recursive: true });
  const out: PacketRecording[] = [];
  try {
    for (const at of capturePoints(built)) {
      const ns = built.ns[at.role] ?? built.elsewhere?.[at.role];
      if (!ns) throw new PmtuError('PMTU_ERR_LAB', `${sc.name}: no namespace with role ${at.role} to capture in`);
      out.push(await recordPackets(lab, ns, at.ifname, join(resolve(dir), pcapName(sc, at))));
    }
    return out;
  } catch (e) {
    for (const r of out) await r.stop();
    throw e;
  }
}

/** Starts watching what a scenario built (its namespaces: built.ns). */
export type Watch = (built: Built, lab: NetLab) => Watcher | Promise<Watcher>;

export interface DemoOptions {
  io: Io;
  /** Without it the demo drives the traffic and shows what it saw, with no verdicts. */
  watch?: Watch;
  /** Verdicts as JSON lines on stdout (the traffic's lines go to stderr then). */
  json?: boolean;
  /** Stops the demo as Ctrl-C does. */
  signal?: AbortSignal;
  /** How long to wait after the traffic for the last events (default 1000 ms). */
  settleMs?: number;
  /** A directory for pcap files of the traffic, recorded where the scenario shows its failure (for analyze, Wireshark). */
  pcapDir?: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Builds a scenario, starts `watch` on it, drives its traffic (printing each
 * step as it completes), waits for the last events, stops the watcher,
 * prints its verdicts and whether they are what the scenario expects, and
 * tears everything down — however it ends, Ctrl-C included (exit 130).
 */
export async function demo(name: string, opts: DemoOptions): Promise<number> {
  const { io } = opts;
  const ac = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: stop waiting for the cleanup
    interrupted = true;
    io.err('pmtu-watch lab: interrupted; tearing down');
    ac.abort();
  };
  const stopOuter = () => ac.abort();
  opts.signal?.addEventListener('abort', stopOuter, { once: true });
  // Registered before the lab's handlers: with ours present they tear down without killing the process, and we finish.
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  let lab: NetLab | undefined;
  let watcher: Watcher | undefined;
  let recordings: PacketRecording[] = [];
  try {
    const sc = find(name);
    lab = await NetLab.create('demo');
    io.err(`pmtu-watch lab: building ${sc.number} ${sc.name}: ${sc.title}`);
    const built = await sc.build(lab);
    if (ac.signal.aborted) throw new PmtuError('PMTU_ERR_LAB', 'interrupted');
    watcher = opts.watch ? await opts.watch(built, lab) : undefined;
    if (opts.pcapDir) recordings = await recordAt(lab, sc, built, opts.pcapDir);
    io.err(`pmtu-watch lab: driving traffic (a few seconds)${watcher ? ' while pmtu-watch watches' : ''}`);
    // Steps cut short by Ctrl-C say nothing useful.
    const step = (s: DriveStep) => ac.signal.aborted || (opts.json ? io.err : io.out)(`  ${describeStep(s)}`);
    await sc.traffic(lab, built, { signal: ac.signal, onStep: step });
    if (recordings.length) {
      await sleep(300, ac.signal); // the last packets reach the files
      for (const r of recordings.splice(0)) await r.stop();
      io.err(`pmtu-watch lab: packets recorded in ${capturePoints(built).map((p) => pcapName(sc, p)).join(', ')} in ${opts.pcapDir} (pmtu-watch analyze reads them)`);
    }
    if (!watcher) return 0;
    await sleep(opts.settleMs ?? 1000, ac.signal); // the last PTBs, drops and route lookups arrive
    const w = watcher;
    watcher = undefined;
    const seen = await w.stop();
    const verdicts = seen.verdicts.sort((a, b) => severity(b.verdict) - severity(a.verdict) || a.ts - b.ts);
    for (const v of verdicts) io.out(opts.json ? JSON.stringify(v) : byRole(verdictText(v), built.ns));
    const say = opts.json ? io.err : io.out;
    if (isCutOff(sc.expected)) {
      const links = seen.links ?? [];
      const warnings = seen.warnings ?? [];
      for (const l of links) io.out(opts.json ? JSON.stringify(l) : byRole(linkText(l), built.ns));
      for (const w of warnings) say(byRole(`warning: ${w}`, built.ns));
      const met = meetsCutOff(links, warnings, sc.expected, built.ns);
      say(`${met.ok ? 'as expected' : `NOT as expected (missing ${met.missing.join(', ')})`}: ${expectedText(sc.expected)} (${links.length} link changes seen)`);
      return 0;
    }
    const met = meetsExpected(verdicts, sc.expected, built.ns, seen.flows);
    say(`${met.ok ? 'as expected' : 'NOT as expected'}: ${expectedText(sc.expected)} (${seen.flows} flows seen, ${verdicts.length} with a verdict)`);
    return 0;
  } catch (e) {
    if (interrupted || ac.signal.aborted) {
      io.err('pmtu-watch lab: interrupted');
      return 130;
    }
    io.err(oneLine(e));
    return 1;
  } finally {
    for (const r of recordings) await r.stop().catch(() => undefined);
    await watcher?.stop().catch(() => []);
    await lab?.teardown().catch((e: unknown) => io.err(oneLine(e)));
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    opts.signal?.removeEventListener('abort', stopOuter);
  }
}

/** The observer as a demo's watcher: one session over the scenario's namespaces, each flow's last verdict. */
export function observerWatch(open: (opts: ObserverOptions) => Observer): Watch {
  return (built) => {
    const observer = open({ netns: Object.values(built.ns), noSignalHandlers: true });
    const last = new Map<string, VerdictJson>();
    const links: LinkEventJson[] = [];
    const warnings: string[] = [];
    const session = new Session(new KernelSource(observer), {
      verdict: (v) => last.set(flowKey(v.flow), v),
      link: (l) => links.push(l),
      warning: (w) => warnings.push(w),
    });
    let flows = 0;
    return {
      async stop() {
        if (observer.running) {
          flows = observer.traffic().flows; // before close: it reads the kernel's counters
          session.close();
        }
        return { verdicts: [...last.values()], flows, links, warnings };
      },
    };
  };
}

/** `pmtu-watch lab demo NAME`: the demo with the observer watching. */
export function labDemo(name: string, opts: { json?: boolean; pcap?: string }, io: Io, deps: LabDeps): Promise<number> {
  return demo(name, { io, watch: observerWatch(deps.open), ...(opts.json ? { json: true } : {}), ...(opts.pcap ? { pcapDir: opts.pcap } : {}) });
}
