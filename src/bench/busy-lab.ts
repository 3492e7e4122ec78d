// A busy host to watch (issue 11): nginx in one namespace of a NetLab, ab in
// another, joined by a veth pair; and the watchers the busy-host bench
// compares (`pmtu-watch live` as a user runs it, tcpdump, an empty tc program)
// with what each one costs: its CPU (/proc/PID/stat), what it lost, and the
// kernel's run time of the tc programs (kernel.bpf_stats_enabled). The bench
// (busy.ts) and the end-to-end test (test/observer/busy.kernel.test.ts) both
// drive it. The parsers at the end are pure.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NetLab, Spawned } from '../lab/netlab.js';
import { waitFor } from '../lab/traffic.js';

export const BIN = fileURLToPath(new URL('../../bin/pmtu-watch.js', import.meta.url));

export const CLIENT_ADDR = '198.18.0.1';
export const SERVER_ADDR = '198.18.0.2';
export const CLIENT_IF = 'va';
export const SERVER_IF = 'vb';
/** ab's concurrency (issue 11). */
export const CONCURRENCY = 32;

/** The tcpdump filter of the busy-host bench: Packet Too Big (IPv4) and SYNs. */
export const PTB_SYN_FILTER = '(icmp[icmptype] == 3 and icmp[icmpcode] == 4) or (tcp[tcpflags] & tcp-syn != 0)';

const STOP_GRACE_MS = 3000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface BusyHost {
  /** Namespace of ab (198.18.0.1 on va). */
  client: string;
  /** Namespace of nginx (198.18.0.2 on vb). */
  server: string;
  url: string;
  nginx: Spawned;
}

/** nginx's own configuration: nothing of /etc/nginx, every file under `dir`, one tiny response. */
export function nginxConfig(dir: string, listen: string, workers: number | 'auto' = 1): string {
  const p = (f: string) => join(dir, f);
  return `daemon off;
master_process on;
worker_processes ${workers};
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${p('body')};
  proxy_temp_path ${p('proxy')};
  fastcgi_temp_path ${p('fastcgi')};
  uwsgi_temp_path ${p('uwsgi')};
  scgi_temp_path ${p('scgi')};
  server {
    listen ${listen} backlog=4096;
    location / { return 200 "ok\\n"; }
  }
}
`;
}

/**
 * Two namespaces of `lab` joined by a veth pair, nginx serving in one of them
 * (its config, pid and logs under `dir`; stopped with the lab). Resolves once
 * nginx listens.
 */
export async function buildBusyHost(lab: NetLab, dir: string, { workers = 1 as number | 'auto' } = {}): Promise<BusyHost> {
  const client = await lab.addNs('a');
  const server = await lab.addNs('b');
  await lab.veth(client, CLIENT_IF, server, SERVER_IF);
  await lab.addr(client, CLIENT_IF, `${CLIENT_ADDR}/24`);
  await lab.addr(server, SERVER_IF, `${SERVER_ADDR}/24`);
  // Tens of thousands of connections a second: room for their ports, SYNs and TIME_WAITs.
  await lab.sysctls(client, { 'net.ipv4.ip_local_port_range': '1024 65000', 'net.ipv4.tcp_tw_reuse': 1 });
  // nginx closes first, so its side holds the TIME_WAITs: at this rate a
  // minute's worth would fill the table and slow later rounds more than
  // earlier ones. None are kept: every round meets the same host.
  await lab.sysctls(server, { 'net.core.somaxconn': 4096, 'net.ipv4.tcp_max_syn_backlog': 4096, 'net.ipv4.tcp_max_tw_buckets': 0 });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, `${SERVER_ADDR}:80`, workers));
  const nginx = lab.spawn(server, ['nginx', '-p', dir, '-c', conf, '-e', join(dir, 'error.log')]);
  let exited = false;
  void nginx.exited.then(() => (exited = true));
  await waitFor(async () => {
    if (exited) throw new Error(`nginx exited: ${lastLine(nginx.output().stderr) || lastLine(safeRead(join(dir, 'error.log')))}`);
    const r = await lab.exec(server, ['ss', '-Hltn', 'sport = :80']);
    return r.stdout.includes(`${SERVER_ADDR}:80`);
  }, 10_000);
  return { client, server, url: `http://${SERVER_ADDR}/`, nginx };
}

export interface AbResult {
  complete: number;
  failed: number;
  /** ab's "Requests per second". */
  rps: number;
  /** ab's "Time taken for tests". */
  seconds: number;
}

/** `ab -n requests -c 32` from the client namespace; throws with ab's last words when it fails. */
export async function runAb(lab: NetLab, host: BusyHost, requests: number, timeoutMs = 60_000): Promise<AbResult> {
  if (!Number.isInteger(requests) || requests < 1 || requests > 10_000_000) throw new Error(`ab: ${requests} requests out of range`);
  const r = await lab.exec(host.client, ['ab', '-q', '-r', '-s', '10', '-n', String(requests), '-c', String(CONCURRENCY), host.url], { timeoutMs });
  const res = parseAb(r.stdout);
  if (r.code !== 0 || !res) throw new Error(`ab ${r.timedOut ? 'timed out' : `exited with ${r.code}`}: ${lastLine(r.stderr) || lastLine(r.stdout)}`);
  return res;
}

/**
 * ab in chunks of `chunk` requests until `done()` says so and at least
 * `minRequests` were made, within `maxMs`: a load that lasts as long as
 * something else takes. Returns the chunks' sum (rps over their time).
 */
export async function loadUntil(
  lab: NetLab,
  host: BusyHost,
  done: () => boolean,
  { minRequests, chunk = 5000, maxMs = 30_000 }: { minRequests: number; chunk?: number; maxMs?: number },
): Promise<AbResult> {
  const end = Date.now() + maxMs;
  const sum: AbResult = { complete: 0, failed: 0, rps: 0, seconds: 0 };
  for (let i = 0; i < 1000 && Date.now() < end && (sum.complete < minRequests || !done()); i++) {
    const r = await runAb(lab, host, chunk, Math.max(5000, end - Date.now() + 5000));
    sum.complete += r.complete;
    sum.failed += r.failed;
    sum.seconds += r.seconds;
  }
  sum.rps = sum.seconds > 0 ? sum.complete / sum.seconds : 0;
  return sum;
}

// ---------------------------------------------------------------------------
// Watchers

/** utime + stime of a process (all its threads), in seconds; undefined once it is gone. */
export function cpuSeconds(pid: number, ticksPerSecond = 100): number | undefined {
  try {
    const t = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return (t.utime + t.stime) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/** `pmtu-watch live --json --all-netns` (the built bin, a child process), its output into a file. */
/**
 * Runs `undo` once: when the returned function is called, or when the
 * process exits or is interrupted first (SIGINT, SIGTERM, SIGHUP; then, unless
 * someone else handles the signal, the process dies of it as it would have).
 */
export function untilExit(undo: () => void): () => void {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    process.off('exit', run);
    for (const s of SIGNALS) process.off(s, onSignal);
    try {
      undo();
    } catch {
      /* nothing more to do */
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    run();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  process.on('exit', run);
  for (const s of SIGNALS) process.on(s, onSignal);
  return run;
}

export class LiveWatcher {
  private tail: FileTail;
  private exitedCode: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly outFile: string,
    readonly errFile: string,
  ) {
    this.tail = new FileTail(outFile);
    this.exitedCode = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    // Should this process end first, the watcher is told to stop (it detaches its hooks itself).
    const forget = untilExit(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    });
    void this.exitedCode.then(forget);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * Starts it and resolves once it printed its first stats line (its hooks
   * are in place) and, when given, has attached to every `attached` interface.
   * `--duration maxSeconds` bounds it whatever happens to its parent.
   */
  static async start(
    outFile: string,
    { maxSeconds = 90, attached = [] as { lab: NetLab; ns: string; ifname: string }[], args = ['--all-netns'] } = {},
  ): Promise<LiveWatcher> {
    const errFile = `${outFile}.err`;
    const out = openSync(outFile, 'w');
    const err = openSync(errFile, 'w');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [BIN, 'live', '--json', ...args, '--duration', String(maxSeconds)], { stdio: ['ignore', out, err] });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const w = new LiveWatcher(child, outFile, errFile);
    let gone = false;
    void w.exitedCode.then(() => (gone = true));
    try {
      await waitFor(async () => {
        if (gone) throw new Error(`pmtu-watch live exited: ${lastLine(safeRead(errFile)) || 'no output'}`);
        if (!safeRead(outFile, 1 << 16).includes('"type":"stats"')) return false;
        for (const a of attached) if (!(await tcFilters(a.lab, a.ns, a.ifname, 'ingress')).includes('pmtu_tc_ingress')) return false;
        return true;
      }, 20_000);
    } catch (e) {
      await w.stop();
      throw e;
    }
    return w;
  }

  /** newLines() starts from what is written after now. */
  skipToEnd(): void {
    this.tail.skipToEnd();
  }

  /** Complete lines written since the last call (only those `keep` accepts are parsed: the rest costs a search). */
  newLines(keep: (raw: string) => boolean): Record<string, unknown>[] {
    return this.tail.read(keep);
  }

  /** SIGINT (it detaches and prints its final stats line), SIGKILL if it lingers; the last stats line it printed. */
  async stop(): Promise<{ code: number | null; stats: StatsLine | undefined; stderr: string }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGINT');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exitedCode;
      clearTimeout(t);
    }
    const code = await this.exitedCode;
    return { code, stats: lastStats(readTail(this.outFile, 1 << 16)), stderr: safeRead(this.errFile) };
  }
}

/** Reads a growing file's new complete lines. */
export class FileTail {
  private offset = 0;
  private partial = '';

  constructor(readonly path: string) {}

  skipToEnd(): void {
    try {
      this.offset = statSync(this.path).size;
    } catch {
      this.offset = 0;
    }
    this.partial = '';
  }

  read(keep: (raw: string) => boolean): Record<string, unknown>[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return [];
    }
    const out: Record<string, unknown>[] = [];
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let i = 0; i < 4096; i++) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.partial + buf.toString('utf8', 0, n);
        const lines = text.split('\n');
        this.partial = lines.pop() ?? '';
        for (const l of lines) {
          if (l === '' || !keep(l)) continue;
          try {
            out.push(JSON.parse(l) as Record<string, unknown>);
          } catch {
            /* not JSON: ignore */
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

export interface Tcpdumps {
  pids: number[];
  /** Stops them; what they said they captured and dropped. */
  stop(): Promise<{ captured: number; dropped: number }>;
}

/** tcpdump with `filter` on each interface (snaplen 128, into /dev/null); resolves once all listen. */
export async function startTcpdumps(lab: NetLab, on: { ns: string; ifname: string }[], filter: string): Promise<Tcpdumps> {
  const dumps: Spawned[] = [];
  const stop = async () => {
    const rs = await Promise.all(dumps.map((d) => d.stop(STOP_GRACE_MS)));
    const stats = rs.map((r) => parseTcpdumpStats(r.stderr));
    return { captured: stats.reduce((s, x) => s + x.captured, 0), dropped: stats.reduce((s, x) => s + x.dropped, 0) };
  };
  try {
    for (const { ns, ifname } of on) {
      const d = lab.spawn(ns, ['tcpdump', '-i', ifname, '-nn', '-s', '128', '-w', '/dev/null', filter]);
      dumps.push(d);
      let gone = false;
      void d.exited.then(() => (gone = true));
      await waitFor(() => {
        if (gone) throw new Error(`tcpdump exited: ${lastLine(d.output().stderr)}`);
        return d.output().stderr.includes('listening on');
      }, 10_000);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { pids: dumps.map((d) => d.pid), stop };
}

/** The empty tc program of the bench, as C: what pmtu-bench's "r0 = -1; exit" compiles from. */
export const EMPTY_TC_C = `__attribute__((section("tc"), used)) int bench_empty(void *skb) { return -1; }
char _license[] __attribute__((section("license"), used)) = "GPL";
`;

function execP(file: string, args: string[], timeoutMs = 20_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file}: ${lastLine(stderr) || err.message.split('\n')[0]}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** Compiles the empty tc program into `dir` (clang -target bpf); returns the object file. */
export async function buildEmptyTc(dir: string): Promise<string> {
  const src = join(dir, 'empty.bpf.c');
  const obj = join(dir, 'empty.bpf.o');
  writeFileSync(src, EMPTY_TC_C);
  await execP('clang', ['-O2', '-target', 'bpf', '-mcpu=v3', '-c', src, '-o', obj]);
  return obj;
}

/** The empty program on both directions of each interface; detaching removes their clsact (the lab's interfaces have nothing else there). */
export async function attachEmptyTc(lab: NetLab, obj: string, on: { ns: string; ifname: string }[]): Promise<() => Promise<void>> {
  const detach = async () => {
    for (const { ns, ifname } of on) await lab.exec(ns, ['tc', 'qdisc', 'del', 'dev', ifname, 'clsact']);
  };
  try {
    for (const { ns, ifname } of on) {
      await lab.exec(ns, ['tc', 'qdisc', 'replace', 'dev', ifname, 'clsact'], { check: true });
      for (const dir of ['ingress', 'egress']) await lab.exec(ns, ['tc', 'filter', 'add', 'dev', ifname, dir, 'bpf', 'da', 'obj', obj, 'sec', 'tc'], { check: true });
    }
  } catch (e) {
    await detach();
    throw e;
  }
  return detach;
}

/** `tc filter show dev IFNAME DIR` in ns. */
export async function tcFilters(lab: NetLab, ns: string, ifname: string, dir: 'ingress' | 'egress'): Promise<string> {
  return (await lab.exec(ns, ['tc', 'filter', 'show', 'dev', ifname, dir])).stdout;
}

/** Ids of the BPF programs on both directions of the interfaces, whatever made them. */
export async function tcProgIds(lab: NetLab, on: { ns: string; ifname: string }[]): Promise<number[]> {
  const ids = new Set<number>();
  for (const { ns, ifname } of on) {
    for (const dir of ['ingress', 'egress'] as const) for (const p of parseTcFilterProgs(await tcFilters(lab, ns, ifname, dir))) ids.add(p.id);
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * Ids of the BPF programs a process holds open (its /proc/PID/fd entries
 * that are bpf-prog, their fdinfo's prog_id): all of a watcher's programs,
 * tracepoints included, without bpftool's pid support.
 */
export function processProgIds(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      const id = parseFdinfoProgId(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (id !== undefined) ids.add(id);
    } catch {
      /* closed meanwhile */
    }
  }
  return [...ids].sort((a, b) => a - b);
}

export interface ProgRun {
  runTimeNs: number;
  runCnt: number;
  /** The same by program name (programs of one name summed). */
  byName?: Record<string, { runTimeNs: number; runCnt: number }>;
}

/** What ran between two readings of the same programs. */
export function progRunDelta(a: ProgRun, b: ProgRun): ProgRun {
  const out: ProgRun = { runTimeNs: b.runTimeNs - a.runTimeNs, runCnt: b.runCnt - a.runCnt };
  if (b.byName) {
    out.byName = {};
    for (const [name, x] of Object.entries(b.byName)) {
      const y = a.byName?.[name] ?? { runTimeNs: 0, runCnt: 0 };
      out.byName[name] = { runTimeNs: x.runTimeNs - y.runTimeNs, runCnt: x.runCnt - y.runCnt };
    }
  }
  return out;
}

/** The kernel's run time and count of these programs, summed (bpftool prog show --json). */
export async function progRuns(ids: readonly number[]): Promise<ProgRun> {
  const { stdout } = await execP('bpftool', ['prog', 'show', '--json']);
  return sumProgRuns(JSON.parse(stdout) as BpftoolProg[], ids);
}

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

/**
 * kernel.bpf_stats_enabled, set for some rounds and put back as it was: by
 * restore(), and also when the process exits or is interrupted meanwhile.
 */
export class BpfStats {
  readonly before: string;
  private done = false;
  readonly restore: () => void;

  constructor() {
    this.before = readFileSync(BPF_STATS, 'utf8').trim();
    this.restore = untilExit(() => {
      this.done = true;
      writeFileSync(BPF_STATS, this.before);
    });
  }

  set(on: boolean): void {
    if (this.done) return;
    writeFileSync(BPF_STATS, on ? '1' : this.before);
  }
}

// ---------------------------------------------------------------------------
// Pure parsers

function lastLine(s: string): string {
  return s.trim().split('\n').at(-1)?.trim() ?? '';
}

function safeRead(path: string, max = 1 << 20): string {
  try {
    if (!existsSync(path)) return '';
    return readTail(path, max, true);
  } catch {
    return '';
  }
}

/** The last `max` bytes of a file (or its first, with head). */
function readTail(path: string, max: number, head = false): string {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const n = Math.min(size, max);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, head ? 0 : size - n);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The prog_id line of a bpf-prog fd's fdinfo. */
export function parseFdinfoProgId(text: string): number | undefined {
  const m = /^prog_id:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** ab's summary; undefined when it printed none. */
export function parseAb(stdout: string): AbResult | undefined {
  const num = (re: RegExp) => {
    const m = re.exec(stdout);
    return m ? Number(m[1]) : undefined;
  };
  const complete = num(/^Complete requests:\s+(\d+)/m);
  const rps = num(/^Requests per second:\s+([\d.]+)/m);
  const seconds = num(/^Time taken for tests:\s+([\d.]+) seconds/m);
  if (complete === undefined || rps === undefined || seconds === undefined) return undefined;
  const failed = (num(/^Failed requests:\s+(\d+)/m) ?? 0) + (num(/^Non-2xx responses:\s+(\d+)/m) ?? 0);
  return { complete, failed, rps, seconds };
}

/** utime and stime (fields 14 and 15) of /proc/PID/stat, in clock ticks. */
export function parseProcStat(text: string): { utime: number; stime: number } {
  // The command name is in parentheses and may hold spaces and parentheses.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unreadable /proc/PID/stat');
  return { utime, stime };
}

/**
 * The machine's CPU time from /proc/stat's first line, in ticks: all of it
 * and what the hypervisor gave to other guests meanwhile (steal, the 8th
 * field; 0 on bare metal and on kernels too old to count it).
 */
export function parseCpuTicks(text: string): { total: number; steal: number } {
  const f = (text.split('\n', 1)[0] ?? '').trim().split(/\s+/);
  if (f[0] !== 'cpu') throw new Error('unreadable /proc/stat');
  const n = f.slice(1, 9).map(Number);
  if (n.length < 4 || n.some((x) => !Number.isFinite(x))) throw new Error('unreadable /proc/stat');
  return { total: n.reduce((s, x) => s + x, 0), steal: n[7] ?? 0 };
}

export function cpuTicks(): { total: number; steal: number } {
  return parseCpuTicks(readFileSync('/proc/stat', 'utf8'));
}

/** What tcpdump says on exit: "N packets captured", "N packets dropped by kernel". */
export function parseTcpdumpStats(stderr: string): { captured: number; dropped: number } {
  const n = (re: RegExp) => Number(re.exec(stderr)?.[1] ?? 0);
  return { captured: n(/(\d+) packets? captured/), dropped: n(/(\d+) packets? dropped by kernel/) };
}

/** The programs `tc filter show` lists: "... id 42 name pmtu_tc_ingress tag ...", or "pmtu_tc_ingress ... id 42 tag". */
export function parseTcFilterProgs(text: string): { id: number; name: string | undefined }[] {
  const out: { id: number; name: string | undefined }[] = [];
  for (const line of text.split('\n')) {
    const id = / id (\d+)/.exec(line);
    if (!id || !/\bbpf\b/.test(line)) continue;
    const name = / name (\S+)/.exec(line)?.[1] ?? /handle \S+ (\S+)/.exec(line)?.[1];
    out.push({ id: Number(id[1]), name });
  }
  return out;
}

export interface BpftoolProg {
  id: number;
  name?: string;
  run_time_ns?: number;
  run_cnt?: number;
}

/** Summed run time and count of the programs with these ids (bpftool leaves both out while they are 0). */
export function sumProgRuns(progs: readonly BpftoolProg[], ids: readonly number[]): ProgRun {
  const want = new Set(ids);
  let runTimeNs = 0;
  let runCnt = 0;
  const byName: NonNullable<ProgRun['byName']> = {};
  for (const p of progs) {
    if (!want.has(p.id)) continue;
    runTimeNs += p.run_time_ns ?? 0;
    runCnt += p.run_cnt ?? 0;
    const n = (byName[p.name ?? `id ${p.id}`] ??= { runTimeNs: 0, runCnt: 0 });
    n.runTimeNs += p.run_time_ns ?? 0;
    n.runCnt += p.run_cnt ?? 0;
  }
  return { runTimeNs, runCnt, byName };
}

export interface StatsLine {
  type: 'stats';
  elapsedS?: number;
  events?: Record<string, number>;
  losses?: Record<string, number>;
  /** Healthy traffic as the kernel counted it (newer versions). */
  traffic?: { flows?: number; syns?: number; synAcks?: number };
}

/** The last complete stats line of `live --json` output. */
export function lastStats(text: string): StatsLine | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (!l.includes('"type":"stats"')) continue;
    try {
      return JSON.parse(l) as StatsLine;
    } catch {
      /* cut at the start of the tail, or half-written: look further back */
    }
  }
  return undefined;
}

/** Events lost as `live` counts them: the ring buffer was full, or JavaScript was behind. */
export function eventsLost(stats: StatsLine | undefined): number | undefined {
  const l = stats?.losses;
  if (!l) return undefined;
  return (l.ringbufFull ?? 0) + (l.queueFull ?? 0);
}
