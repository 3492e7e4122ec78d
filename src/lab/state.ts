// Which scenarios `pmtu-watch lab up` left running, for `lab list` and for a
// `lab down` from another process: one small JSON file per scenario beside
// the labs' markers, /run/pmtu-watch/lab/<scenario>.up.json. Created
// exclusively before building (so two `lab up` of one scenario cannot race),
// rewritten atomically once the scenario is up, removed by `lab down`.
//
// The file says what was built (namespaces by role, addresses, what to try);
// the namespaces themselves are found by the lab prefix it records, and are
// kept from reapStale() by the lab's own marker (NetLab.persist).

import { readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { PmtuError } from '../errors.js';
import { MARKER_DIR, type Owner } from './netlab.js';

export const STATE_DIR = MARKER_DIR;
const SUFFIX = '.up.json';
const NAME_RE = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const PREFIX_RE = /^pmtu-[a-z0-9]{1,16}-\d+-[0-9a-f]{6}$/;

export interface LabState {
  version: 1;
  /** Scenario name and number. */
  scenario: string;
  number: number;
  /** 'building' from the moment `lab up` claims the name; 'up' once built and handed over. */
  status: 'building' | 'up';
  /** The lab's namespace prefix, once it has one. */
  prefix?: string;
  /** Role → namespace (empty while building). */
  ns: Record<string, string>;
  addrs: Record<string, string>;
  tryThis: string[];
  /** ISO time the claim was made. */
  created: string;
  /** The `lab up` process. Gone once the scenario is up (that is the point); alive while building. */
  owner: Owner;
}

/** What a state file means now. */
export type Judgement =
  | { is: 'up' }
  /** Its `lab up` is still building it. */
  | { is: 'building'; pid: number }
  /** Left behind: its builder died, or its namespaces are gone (e.g. deleted by hand). */
  | { is: 'stale'; why: string };

export function statePath(name: string, dir = STATE_DIR): string {
  if (!NAME_RE.test(name)) throw new PmtuError('PMTU_ERR_USAGE', `bad scenario name ${JSON.stringify(name)}`);
  return join(dir, `${name}${SUFFIX}`);
}

export function formatState(s: LabState): string {
  return `${JSON.stringify(s, null, 2)}\n`;
}

function bad(file: string, why: string): PmtuError {
  return new PmtuError('PMTU_ERR_STATE', `unreadable lab state ${file}: ${why}`, 'pmtu-watch lab down NAME removes it');
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrMap = (v: unknown): v is Record<string, string> => isObj(v) && Object.values(v).every((x) => typeof x === 'string');

/** Parse and check a state file's text. `file` names it in errors. */
export function parseState(text: string, file = 'state'): LabState {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw bad(file, `not JSON (${(e as Error).message})`);
  }
  if (!isObj(j)) throw bad(file, 'not an object');
  if (j.version !== 1) throw bad(file, `version ${JSON.stringify(j.version)}, expected 1`);
  if (typeof j.scenario !== 'string' || !NAME_RE.test(j.scenario)) throw bad(file, 'no scenario name');
  if (typeof j.number !== 'number' || !Number.isInteger(j.number) || j.number < 1) throw bad(file, 'no scenario number');
  if (j.status !== 'building' && j.status !== 'up') throw bad(file, `status ${JSON.stringify(j.status)}`);
  if (j.prefix !== undefined && (typeof j.prefix !== 'string' || !PREFIX_RE.test(j.prefix))) throw bad(file, `prefix ${JSON.stringify(j.prefix)}`);
  if (j.status === 'up' && j.prefix === undefined) throw bad(file, 'up without a prefix');
  if (!isStrMap(j.ns) || !isStrMap(j.addrs)) throw bad(file, 'ns and addrs must map names to strings');
  if (j.prefix !== undefined && Object.values(j.ns).some((n) => !n.startsWith(`${String(j.prefix)}-`))) throw bad(file, 'a namespace outside its prefix');
  if (!Array.isArray(j.tryThis) || !j.tryThis.every((x) => typeof x === 'string')) throw bad(file, 'tryThis must be strings');
  if (typeof j.created !== 'string' || Number.isNaN(Date.parse(j.created))) throw bad(file, 'no creation time');
  const o = j.owner;
  if (!isObj(o) || typeof o.pid !== 'number' || typeof o.startTime !== 'string' || typeof o.pidNs !== 'string' || typeof o.bootId !== 'string') {
    throw bad(file, 'no owner');
  }
  return {
    version: 1,
    scenario: j.scenario,
    number: j.number,
    status: j.status,
    ...(j.prefix !== undefined ? { prefix: j.prefix as string } : {}),
    ns: j.ns,
    addrs: j.addrs,
    tryThis: j.tryThis as string[],
    created: j.created,
    owner: { pid: o.pid, startTime: o.startTime, pidNs: o.pidNs, bootId: o.bootId },
  };
}

/**
 * What a state means, given the namespaces that exist and whether its owner
 * lives ('alive', 'dead', or why that cannot be told, as ownerState says).
 */
export function judge(s: LabState, existing: readonly string[], owner: 'alive' | 'dead' | string): Judgement {
  if (s.status === 'building') {
    if (owner === 'dead') return { is: 'stale', why: `its \`lab up\` (pid ${s.owner.pid}) died while building it` };
    return { is: 'building', pid: s.owner.pid };
  }
  const want = Object.values(s.ns);
  const have = new Set(existing);
  const missing = want.filter((n) => !have.has(n));
  if (want.length > 0 && missing.length === want.length) return { is: 'stale', why: 'its namespaces are gone' };
  if (missing.length > 0) return { is: 'stale', why: `${missing.length} of its ${want.length} namespaces are gone` };
  return { is: 'up' };
}

/** Writes `s` only if no state exists for its scenario. False when one does. */
export function claimState(s: LabState, dir = STATE_DIR): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  try {
    writeFileSync(statePath(s.scenario, dir), formatState(s), { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new PmtuError('PMTU_ERR_LAB', `cannot write ${statePath(s.scenario, dir)}: ${(e as Error).message}`, 'pmtu-watch lab needs root');
  }
}

/** Replaces the state of `s.scenario` atomically. */
export function writeState(s: LabState, dir = STATE_DIR): void {
  const path = statePath(s.scenario, dir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, formatState(s));
  renameSync(tmp, path);
}

/** The state of one scenario: undefined when there is none; throws PMTU_ERR_STATE when it is unreadable. */
export function readState(name: string, dir = STATE_DIR): LabState | undefined {
  const path = statePath(name, dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw bad(path, (e as Error).message);
  }
  const s = parseState(text, path);
  if (s.scenario !== name) throw bad(path, `it names scenario ${s.scenario}`);
  return s;
}

/** Every state file in `dir`: parsed, or the error that stopped it. */
export function listStates(dir = STATE_DIR): { name: string; state?: LabState; error?: PmtuError }[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  const out: { name: string; state?: LabState; error?: PmtuError }[] = [];
  for (const f of files.sort()) {
    if (!f.endsWith(SUFFIX)) continue;
    const name = f.slice(0, -SUFFIX.length);
    if (!NAME_RE.test(name)) continue;
    try {
      const state = readState(name, dir);
      if (state) out.push({ name, state });
    } catch (e) {
      out.push({ name, error: e as PmtuError });
    }
  }
  return out;
}

/** Removes a scenario's state; true if there was one. */
export function removeState(name: string, dir = STATE_DIR): boolean {
  try {
    unlinkSync(statePath(name, dir));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
