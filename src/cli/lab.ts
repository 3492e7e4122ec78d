// `pmtu-watch lab`: build the field failures of SCENARIOS.md in network
// namespaces on this machine, leave them up to explore, or run a demo that
// drives traffic through one while pmtu-watch watches.

import { flowKey, severity } from '../correlate/correlator.js';
import type { VerdictJson } from '../correlate/types.js';
import { oneLine, PmtuError } from '../errors.js';
import { NetLab } from '../lab/netlab.js';
import { SCENARIOS, scenario, type Scenario } from '../lab/scenarios.js';
import type { Observer, ObserverOptions } from '../observer/index.js';
import { Session } from '../session.js';
import type { Io } from './io.js';
import { verdictText } from './view.js';

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
  for (const [role, full] of Object.entries(ns)) out = out.split(full).join(role);
  return out;
}

export async function labList(io: Io): Promise<number> {
  const up = await NetLab.persistent().catch(() => new Map<string, string[]>());
  for (const sc of SCENARIOS) {
    io.out(`${String(sc.number).padStart(2)}  ${sc.name.padEnd(18)} ${sc.title}${up.has(sc.name) ? '  [up]' : ''}`);
    io.out(`    ${sc.description}`);
    if (sc.limits) io.out(`    (not built: ${sc.limits})`);
  }
  return 0;
}

export async function labUp(name: string, io: Io): Promise<number> {
  try {
    const sc = find(name);
    if ((await NetLab.persistent()).has(sc.name)) {
      throw new PmtuError('PMTU_ERR_LAB', `scenario ${sc.name} is up already`, `pmtu-watch lab down ${sc.name} removes it`);
    }
    const lab = await NetLab.create('lab', { persist: sc.name });
    let built;
    try {
      built = await sc.build(lab);
    } catch (e) {
      await lab.teardown();
      throw e;
    }
    io.out(`${sc.number} ${sc.name}: ${sc.title}`);
    for (const [role, ns] of Object.entries(built.ns)) io.out(`  ${role.padEnd(3)} ${ns}`);
    io.out('try:');
    for (const line of built.tryThis) io.out(`  ${line}`);
    io.out(`  pmtu-watch live ${Object.values(built.ns).map((n) => `--netns ${n}`).join(' ')}`);
    io.out(`remove it with: pmtu-watch lab down ${sc.name}`);
    return 0;
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }
}

export async function labDown(name: string, io: Io): Promise<number> {
  try {
    const sc = find(name);
    const removed = await NetLab.removePersistent(sc.name);
    if (removed.length === 0) throw new PmtuError('PMTU_ERR_LAB', `scenario ${sc.name} is not up`, 'pmtu-watch lab list marks those that are');
    io.out(`removed ${removed.length} namespaces of ${sc.name}`);
    return 0;
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }
}

/**
 * Builds a scenario, watches its namespaces, drives its traffic, prints the
 * verdicts, and tears it all down (also on Ctrl-C: the lab and the observer
 * both clean up on signals).
 */
export async function labDemo(name: string, opts: { json?: boolean }, io: Io, deps: LabDeps): Promise<number> {
  let lab: NetLab | undefined;
  try {
    const sc = find(name);
    lab = await NetLab.create('demo');
    io.err(`pmtu-watch lab: building ${sc.number} ${sc.name}: ${sc.title}`);
    const built = await sc.build(lab);
    const observer = deps.open({ netns: Object.values(built.ns) });
    const last = new Map<string, VerdictJson>();
    const session = new Session(observer, { verdict: (v) => last.set(flowKey(v.flow), v) });
    try {
      io.err('pmtu-watch lab: driving traffic (a few seconds)');
      await sc.drive(lab, built);
      await new Promise((r) => setTimeout(r, 700)); // the last PTBs and drops arrive
    } finally {
      session.close();
    }
    const verdicts = [...last.values()].sort((a, b) => severity(b.verdict) - severity(a.verdict) || a.ts - b.ts);
    for (const v of verdicts) io.out(opts.json ? JSON.stringify(v) : byRole(verdictText(v), built.ns));
    if (!opts.json) io.err(`pmtu-watch lab: ${verdicts.length} flows seen; namespaces: ${Object.entries(built.ns).map(([r, n]) => `${r}=${n}`).join(' ')}`);
    return 0;
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  } finally {
    await lab?.teardown();
  }
}
