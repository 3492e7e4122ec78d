// NetLab: network namespaces, links and processes for rebuilding the field
// failures of SCENARIOS.md on one machine. Everything a lab creates is named
// under one unique prefix, recorded in a marker file, and removed by
// teardown() — also on process exit, SIGINT and SIGTERM — or, when the owning
// process died without cleaning up (SIGKILL), by reapStale() in a later run.
//
// Commands are run with execve-style argument vectors (never a shell), each
// with a timeout after which it gets SIGTERM and then SIGKILL.

import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { hostSources, namedNetnsPath } from '../netns/discovery.js';

/** Where each live lab records its owner (pid, start time, pid namespace). */
export const MARKER_DIR = '/run/pmtu-watch/lab';
/** Every namespace a NetLab creates starts with this. */
export const NS_ROOT = 'pmtu';

const DEFAULT_TIMEOUT_MS = 10_000;
const KILL_GRACE_MS = 1_500;
const OUTPUT_CAP = 4 * 1024 * 1024;

const TAG_RE = /^[a-z0-9]{1,16}$/;
const SHORT_RE = /^[a-z0-9]{1,16}$/;
// IFNAMSIZ is 16 including the NUL; '/' and whitespace are invalid, ':' and
// '.' are avoided because sysctl paths and alias syntax treat them specially.
const IFNAME_RE = /^[A-Za-z0-9_-]{1,15}$/;

/** Something the lab could not do. `code` follows the project's PMTU_ERR_* scheme. */
export class LabError extends Error {
  readonly code = 'PMTU_ERR_LAB';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'LabError';
  }
}

export interface ExecResult {
  /** Exit status, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the timeout ended the process. */
  timedOut: boolean;
}

export interface ExecOptions {
  /** Default 10 s. The process then gets SIGTERM, and SIGKILL 1.5 s later. */
  timeoutMs?: number;
  /** Written to the process's stdin (which is otherwise empty). */
  input?: string;
  /** Throw a LabError unless the process exits with status 0. Default false. */
  check?: boolean;
}

export interface Spawned {
  readonly pid: number;
  readonly argv: readonly string[];
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExecResult>;
  /** Output so far. */
  output(): { stdout: string; stderr: string };
  /** SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
  stop(graceMs?: number): Promise<ExecResult>;
}

export interface VethOptions {
  mtuA?: number;
  mtuB?: number;
}

export interface NsOptions {
  /** Enable IPv4 and IPv6 forwarding (a router). */
  forward?: boolean;
}

/** A process, told apart from a later one that reuses its pid. */
export interface Owner {
  pid: number;
  /** /proc/<pid>/stat field 22: tells a live owner from a reused pid. */
  startTime: string;
  /** The owner's pid namespace; pids from another one mean nothing here. */
  pidNs: string;
  bootId: string;
}

/** Marker file contents: who owns a lab's namespaces. */
interface Marker extends Owner {
  prefix: string;
  created: string;
  /** Kept after its owner exits (`pmtu-watch lab up`): only `lab down` removes it. */
  persist?: string;
}

export interface ReapResult {
  /** Namespaces removed. */
  reaped: string[];
  /** Runs left alone, and why. */
  skipped: { prefix: string; reason: string }[];
  /** Namespaces under the prefix that no marker accounts for (left alone). */
  unowned: string[];
}

// ---------------------------------------------------------------------------
// Running commands

function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return spawnTracked(argv, opts).exited;
}

function spawnTracked(
  argv: readonly string[],
  opts: ExecOptions = {},
): { child: ChildProcess; exited: Promise<ExecResult>; output: () => { stdout: string; stderr: string } } {
  const [file, ...args] = argv;
  if (file === undefined) throw new LabError('empty command');
  const child = spawnChild(file, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (stdout.length < OUTPUT_CAP) stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < OUTPUT_CAP) stderr += d;
  });
  if (opts.input !== undefined && child.stdin) {
    child.stdin.on('error', () => {}); // the process may exit before reading
    child.stdin.end(opts.input);
  }
  let timedOut = false;
  let termTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  if (opts.timeoutMs !== Infinity) {
    termTimer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }
  const exited = new Promise<ExecResult>((resolve) => {
    let spawnError: Error | undefined;
    child.on('error', (e) => {
      spawnError = e; // e.g. ENOENT; 'close' follows
    });
    child.on('close', (code, signal) => {
      clearTimeout(termTimer);
      clearTimeout(killTimer);
      if (spawnError) stderr += `${spawnError.message}\n`;
      resolve({ code: spawnError ? 127 : code, signal, stdout, stderr, timedOut });
    });
  });
  return { child, exited, output: () => ({ stdout, stderr }) };
}

function describe(argv: readonly string[], r: ExecResult): string {
  const how = r.timedOut ? 'timed out' : r.signal ? `was killed by ${r.signal}` : `exited with ${r.code}`;
  const err = r.stderr.trim();
  return `\`${argv.join(' ')}\` ${how}${err ? `: ${err}` : ''}`;
}

async function runChecked(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    const perm = /Operation not permitted|Permission denied/.test(r.stderr);
    throw new LabError(describe(argv, r), perm ? 'network labs need root (CAP_NET_ADMIN and CAP_SYS_ADMIN)' : undefined);
  }
  return r;
}

function runSync(argv: readonly string[], timeoutMs = 5_000): { code: number | null; stdout: string } {
  const [file, ...args] = argv;
  const r = spawnSync(file!, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout ?? '' };
}

// ---------------------------------------------------------------------------
// Ownership

function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

/** This process as an Owner. */
export function selfIdentity(): Owner {
  return {
    pid: process.pid,
    startTime: procStartTime(process.pid) ?? '?',
    pidNs: safe(() => readlinkSync('/proc/self/ns/pid'), '?'),
    bootId: safe(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), '?'),
  };
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

/** 'alive', 'dead', or a reason why we cannot tell (then the run is left alone). */
export function ownerState(m: Owner, self = selfIdentity()): 'alive' | 'dead' | string {
  if (m.bootId !== self.bootId) return 'dead'; // written before a reboot
  if (m.pidNs !== self.pidNs) return `owner is in another pid namespace (${m.pidNs})`;
  const st = procStartTime(m.pid);
  if (st === undefined) return 'dead';
  return st === m.startTime ? 'alive' : 'dead'; // a different process reuses the pid
}

function readMarkers(): Marker[] {
  let files: string[];
  try {
    files = readdirSync(MARKER_DIR);
  } catch {
    return [];
  }
  const out: Marker[] = [];
  for (const f of files) {
    if (!f.endsWith('.json')) continue;
    try {
      const m = JSON.parse(readFileSync(join(MARKER_DIR, f), 'utf8')) as Marker;
      if (typeof m.prefix === 'string' && `${m.prefix}.json` === f && typeof m.pid === 'number') out.push(m);
    } catch {
      /* half-written or foreign: ignore */
    }
  }
  return out;
}

function markerPath(prefix: string): string {
  return join(MARKER_DIR, `${prefix}.json`);
}

/**
 * Where the addon marks the clsact qdiscs a pmtu-watch made, one file per
 * NETNS_INODE-IFINDEX-NAME (native/tc.cc). An observer that leaves removes
 * its markers, but one killed with -9 cannot; deleting a namespace deletes
 * its qdiscs, so the lab that deletes it takes their markers too.
 */
const CLSACT_MARKER_DIR = '/run/pmtu-watch/clsact';

function forgetClsactMarkers(ns: string): void {
  const inode = hostSources.inode(namedNetnsPath(ns) ?? '');
  if (inode === undefined) return; // gone already
  let names: string[];
  try {
    names = readdirSync(CLSACT_MARKER_DIR);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(`${inode}-`)) safe(() => unlinkSync(join(CLSACT_MARKER_DIR, n)), undefined);
}

/** Deletes a lab namespace: its processes first, its qdiscs' markers, then the namespace. */
async function deleteNetns(ns: string): Promise<ExecResult> {
  await killNetnsPids(ns);
  forgetClsactMarkers(ns);
  return run(['ip', 'netns', 'del', ns], { timeoutMs: 5_000 });
}

function parseNetnsList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Names of all named network namespaces (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list']);
  return r.code === 0 ? parseNetnsList(r.stdout) : [];
}

function listNetnsSync(): string[] {
  const r = runSync(['ip', 'netns', 'list']);
  return r.code === 0 ? parseNetnsList(r.stdout) : [];
}

function killNetnsPidsSync(ns: string): void {
  const r = runSync(['ip', 'netns', 'pids', ns]);
  if (r.code !== 0) return;
  for (const p of r.stdout.split(/\s+/)) {
    const pid = Number(p);
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) safe(() => process.kill(pid, 'SIGKILL'), undefined);
  }
}

async function killNetnsPids(ns: string): Promise<void> {
  const r = await run(['ip', 'netns', 'pids', ns], { timeoutMs: 5_000 });
  if (r.code !== 0) return;
  for (const p of r.stdout.split(/\s+/)) {
    const pid = Number(p);
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) safe(() => process.kill(pid, 'SIGKILL'), undefined);
  }
}

/**
 * Remove the namespaces of lab runs whose owning process is gone (killed
 * before it could tear down). Only runs with a marker under MARKER_DIR whose
 * prefix starts with `prefix`, and whose owner is provably dead (same boot and
 * pid namespace, pid gone or reused) are touched; anything else is reported,
 * never removed.
 */
export async function reapStale(prefix = `${NS_ROOT}-`): Promise<ReapResult> {
  const result: ReapResult = { reaped: [], skipped: [], unowned: [] };
  const self = selfIdentity();
  const all = await listNetns();
  const accounted = new Set<string>();
  for (const m of readMarkers()) {
    if (!m.prefix.startsWith(prefix)) continue;
    const mine = all.filter((n) => n.startsWith(`${m.prefix}-`));
    mine.forEach((n) => accounted.add(n));
    if (m.persist) continue; // `lab up` left it for a user: `lab down` removes it
    const state = ownerState(m, self);
    if (state === 'alive') continue;
    if (state !== 'dead') {
      result.skipped.push({ prefix: m.prefix, reason: state });
      continue;
    }
    let left = 0;
    for (const ns of mine) {
      const r = await deleteNetns(ns);
      if (r.code === 0) result.reaped.push(ns);
      else left++;
    }
    if (left === 0) safe(() => unlinkSync(markerPath(m.prefix)), undefined);
    else result.skipped.push({ prefix: m.prefix, reason: `${left} namespace(s) could not be deleted` });
  }
  result.unowned = all.filter((n) => n.startsWith(prefix) && !accounted.has(n));
  return result;
}

// ---------------------------------------------------------------------------
// Exit handling: every live lab is torn down synchronously on exit and signals.

const live = new Set<NetLab>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

function onExit(): void {
  for (const lab of [...live]) lab.teardownSync();
}

function onSignal(sig: NodeJS.Signals): void {
  // If someone else also handles this signal, exiting is their call.
  // Otherwise die of the signal, as we would have without our handler.
  const othersHandle = process.listenerCount(sig) > 1;
  onExit(); // the last teardown uninstalls our handlers
  if (!othersHandle) {
    uninstall();
    process.kill(process.pid, sig);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

// ---------------------------------------------------------------------------

function checkIfname(name: string): void {
  if (!IFNAME_RE.test(name)) throw new LabError(`bad interface name ${JSON.stringify(name)}`, 'use 1-15 of [A-Za-z0-9_-]');
}

function checkMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new LabError(`bad MTU ${mtu}`);
}

function isV6(cidrOrAddr: string): boolean {
  return cidrOrAddr.includes(':');
}

export class NetLab {
  /** Every namespace name of this lab is `${prefix}-<short>`. */
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private tornDown: Promise<void> | undefined;
  private syncDone = false;

  private constructor(prefix: string) {
    this.prefix = prefix;
  }

  /**
   * A new lab named `pmtu-<tag>-<pid>-<random6>`. Records its owner in a
   * marker file and registers the lab for teardown on exit and signals
   * (persist() later hands it over to outlive this process).
   */
  static async create(tag: string): Promise<NetLab> {
    if (!TAG_RE.test(tag)) throw new LabError(`bad lab tag ${JSON.stringify(tag)}`, 'use 1-16 of [a-z0-9]');
    const prefix = `${NS_ROOT}-${tag}-${process.pid}-${randomBytes(4).toString('hex').slice(0, 6)}`;
    const lab = new NetLab(prefix);
    const marker: Marker = { prefix, ...selfIdentity(), created: new Date().toISOString() };
    try {
      mkdirSync(MARKER_DIR, { recursive: true, mode: 0o755 });
      writeFileSync(markerPath(prefix), `${JSON.stringify(marker)}\n`, { flag: 'wx' });
    } catch (e) {
      throw new LabError(`cannot write lab marker ${markerPath(prefix)}: ${(e as Error).message}`, 'network labs need root');
    }
    live.add(lab);
    install();
    return lab;
  }

  /** Removes a persistent lab: its processes, namespaces and marker. Returns the namespaces removed. */
  static async removePersistent(persist: string): Promise<string[]> {
    const removed: string[] = [];
    for (const m of readMarkers()) {
      if (m.persist === persist) removed.push(...(await NetLab.remove(m.prefix)));
    }
    return removed;
  }

  /**
   * Removes the lab with this prefix whoever made it: the processes in its
   * namespaces, the namespaces, and its marker once none is left. For labs
   * whose owner is gone or meant them to outlive it (`lab down`); a live
   * owner's lab is its own to tear down. Returns the namespaces removed.
   */
  static async remove(prefix: string): Promise<string[]> {
    if (!new RegExp(`^${NS_ROOT}-[a-z0-9]{1,16}-\\d+-[0-9a-f]{6}$`).test(prefix)) throw new LabError(`not a lab prefix: ${JSON.stringify(prefix)}`);
    const removed: string[] = [];
    let left = 0;
    for (const ns of (await listNetns()).filter((n) => n.startsWith(`${prefix}-`))) {
      if ((await deleteNetns(ns)).code === 0) removed.push(ns);
      else left++;
    }
    if (left === 0) safe(() => unlinkSync(markerPath(prefix)), undefined);
    return removed;
  }

  /**
   * From now on the lab outlives this process: its marker records `name`
   * (only removePersistent(name) or remove(prefix) delete it; reapStale
   * leaves it alone) and it is no longer torn down on exit or signals. Until
   * this is called, a lab that fails or is interrupted while being built is
   * cleaned up as usual.
   */
  persist(name: string): void {
    this.alive();
    if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(name)) throw new LabError(`bad persistent lab name ${JSON.stringify(name)}`);
    const path = markerPath(this.prefix);
    const marker = JSON.parse(readFileSync(path, 'utf8')) as Marker;
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ ...marker, persist: name })}\n`);
    renameSync(tmp, path);
    live.delete(this);
    if (live.size === 0) uninstall();
  }

  /** Full name of the namespace `short` (whether or not it exists). */
  ns(short: string): string {
    return `${this.prefix}-${short}`;
  }

  /** Namespaces created so far, in order. */
  get netns(): readonly string[] {
    return [...this.namespaces];
  }

  private alive(): void {
    if (this.tornDown || this.syncDone) throw new LabError(`lab ${this.prefix} was torn down`);
  }

  /**
   * Create namespace `<prefix>-<short>` with lo up, IPv6 DAD off, rp_filter
   * off (new namespaces inherit the host's IPv4 settings otherwise), and
   * forwarding on when `forward`. Returns the full name.
   */
  async addNs(short: string, opts: NsOptions = {}): Promise<string> {
    this.alive();
    if (!SHORT_RE.test(short)) throw new LabError(`bad namespace name ${JSON.stringify(short)}`, 'use 1-16 of [a-z0-9]');
    const name = this.ns(short);
    if (this.namespaces.includes(name)) throw new LabError(`namespace ${name} exists already`);
    this.namespaces.push(name); // before creating: teardown tolerates a missing one
    await runChecked(['ip', 'netns', 'add', name]);
    await this.ip(name, ['link', 'set', 'dev', 'lo', 'up']);
    const fwd = opts.forward ? '1' : '0';
    await this.sysctls(name, {
      'net.ipv6.conf.all.accept_dad': '0',
      'net.ipv6.conf.default.accept_dad': '0',
      'net.ipv4.conf.all.rp_filter': '0',
      'net.ipv4.conf.default.rp_filter': '0',
      'net.ipv4.ip_forward': fwd,
      'net.ipv6.conf.all.forwarding': fwd,
    });
    return name;
  }

  /** `ip -n <ns> <args...>`; throws on failure. */
  async ip(ns: string, args: readonly string[], opts: { family?: 4 | 6 } = {}): Promise<ExecResult> {
    this.alive();
    const fam = opts.family ? [`-${opts.family}`] : [];
    return runChecked(['ip', '-n', ns, ...fam, ...args]);
  }

  /**
   * A veth pair created directly inside the two namespaces (its names never
   * appear in the root namespace), both ends up.
   */
  async veth(aNs: string, aIf: string, bNs: string, bIf: string, opts: VethOptions = {}): Promise<void> {
    checkIfname(aIf);
    checkIfname(bIf);
    await this.ip(aNs, ['link', 'add', 'name', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', bNs]);
    await this.linkSet(aNs, aIf, { mtu: opts.mtuA, up: true });
    await this.linkSet(bNs, bIf, { mtu: opts.mtuB, up: true });
  }

  /**
   * A bridge, up, at `mtu`. Note: enslaving ports adjusts a bridge's MTU
   * unless it was set by hand afterwards; call linkSet(ns, name, {mtu}) after
   * enslave() to pin it (topologies.ts does).
   */
  async bridge(ns: string, name: string, mtu: number): Promise<void> {
    checkIfname(name);
    await this.ip(ns, ['link', 'add', 'name', name, 'type', 'bridge']);
    await this.linkSet(ns, name, { mtu, up: true });
  }

  async enslave(ns: string, port: string, bridge: string): Promise<void> {
    await this.ip(ns, ['link', 'set', 'dev', port, 'master', bridge, 'up']);
  }

  /** Add an address; IPv6 addresses get `nodad` so they work at once. */
  async addr(ns: string, ifname: string, cidr: string): Promise<void> {
    const extra = isV6(cidr) ? ['nodad'] : [];
    await this.ip(ns, ['addr', 'add', cidr, 'dev', ifname, ...extra]);
  }

  /**
   * `ip -n <ns> route <args...>`, e.g. route(ns, ['add', '198.18.0.0/15',
   * 'via', '198.18.1.1']). The family follows from the addresses in args.
   */
  async route(ns: string, args: readonly string[]): Promise<void> {
    const fam = args.some((a) => isV6(a)) ? 6 : undefined;
    await this.ip(ns, ['route', ...args], { family: fam });
  }

  async sysctl(ns: string, key: string, value: string | number): Promise<void> {
    await this.sysctls(ns, { [key]: value });
  }

  /** Several sysctls in one process. Keys may use '/' as separator (for names with dots). */
  async sysctls(ns: string, kv: Record<string, string | number>): Promise<void> {
    const args = Object.entries(kv).map(([k, v]) => `${k}=${v}`);
    if (args.length === 0) return;
    await this.exec(ns, ['sysctl', '-q', '-w', ...args], { check: true });
  }

  async linkSet(ns: string, ifname: string, opts: { mtu?: number | undefined; up?: boolean | undefined }): Promise<void> {
    const args = ['link', 'set', 'dev', ifname];
    if (opts.mtu !== undefined) {
      checkMtu(opts.mtu);
      args.push('mtu', String(opts.mtu));
    }
    if (opts.up !== undefined) args.push(opts.up ? 'up' : 'down');
    await this.ip(ns, args);
  }

  /** Load an nftables ruleset (nft -f) inside the namespace. */
  async nft(ns: string, ruleset: string): Promise<void> {
    await this.exec(ns, ['nft', '-f', '-'], { input: ruleset, check: true });
  }

  /** Run argv inside the namespace and wait. Non-zero exits are returned, not thrown, unless `check`. */
  async exec(ns: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.alive();
    if (argv.length === 0) throw new LabError('empty command');
    const full = ['ip', 'netns', 'exec', ns, ...argv];
    const r = await run(full, opts);
    if (opts.check && r.code !== 0) throw new LabError(describe(full, r));
    return r;
  }

  /**
   * Start a long-running process (a server) inside the namespace. It is
   * stopped by teardown() if still running; give it its own bounds too.
   */
  spawn(ns: string, argv: readonly string[]): Spawned {
    this.alive();
    if (argv.length === 0) throw new LabError('empty command');
    const full = ['ip', 'netns', 'exec', ns, ...argv];
    // `ip netns exec` execs the command, so the child's pid is the server's.
    const t = spawnTracked(full, { timeoutMs: Infinity });
    const child = t.child;
    this.children.add(child);
    void t.exited.then(() => this.children.delete(child));
    const stop = async (graceMs = KILL_GRACE_MS): Promise<ExecResult> => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const r = await t.exited;
        clearTimeout(timer);
        return r;
      }
      return t.exited;
    };
    return { pid: child.pid ?? -1, argv: full, exited: t.exited, output: t.output, stop };
  }

  /**
   * Stop spawned processes, kill whatever else runs in the lab's namespaces,
   * delete the namespaces (which deletes their interfaces) and the marker.
   * Idempotent; safe to call concurrently.
   */
  teardown(): Promise<void> {
    if (this.syncDone) return Promise.resolve();
    this.tornDown ??= (async () => {
      await Promise.all([...this.children].map((c) => stopChild(c)));
      const failed: string[] = [];
      for (const ns of [...this.namespaces].reverse()) {
        const r = await deleteNetns(ns);
        if (r.code !== 0 && !/No such file/.test(r.stderr)) failed.push(`${ns}: ${r.stderr.trim()}`);
      }
      this.finish(failed.length === 0);
      if (failed.length) throw new LabError(`teardown of ${this.prefix} left namespaces: ${failed.join('; ')}`);
    })();
    return this.tornDown;
  }

  /** Synchronous teardown, for exit and signal handlers. */
  teardownSync(): void {
    if (this.syncDone) return;
    this.syncDone = true;
    for (const c of this.children) safe(() => c.kill('SIGKILL'), false);
    const existing = new Set(listNetnsSync());
    let ok = true;
    for (const ns of [...this.namespaces].reverse()) {
      if (!existing.has(ns)) continue;
      killNetnsPidsSync(ns);
      forgetClsactMarkers(ns);
      if (runSync(['ip', 'netns', 'del', ns]).code !== 0) ok = false;
    }
    this.finish(ok);
  }

  private finish(removeMarker: boolean): void {
    if (removeMarker) safe(() => unlinkSync(markerPath(this.prefix)), undefined);
    live.delete(this);
    if (live.size === 0) uninstall();
  }
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise<void>((resolve) => c.once('close', () => resolve()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), KILL_GRACE_MS);
  await done;
  clearTimeout(timer);
}

/** Create a lab, run `fn`, and tear the lab down however `fn` ends. */
export async function withLab<T>(tag: string, fn: (lab: NetLab) => Promise<T>): Promise<T> {
  const lab = await NetLab.create(tag);
  try {
    return await fn(lab);
  } finally {
    await lab.teardown();
  }
}
