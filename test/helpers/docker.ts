// A real Docker engine for end-to-end tests, that leaves the host as it found it.
//
//   kernelDescribe('containers', () => {
//     const engines = useDockerEngines();              // each engine stopped after its test
//     it('names them', async () => {
//       const engine = await engines.start();
//       const image = await engine.importBusybox();
//       await engine.network('pmtu-net', { subnet: '198.18.5.0/24', mtu: 1450 });
//       const web = await engine.run('web', { network: 'pmtu-net', ip: '198.18.5.10', cmd: ['httpd', '-f', '-p', '80'] });
//       // web.pid, web.netns (/proc/PID/ns/net), web.netnsInode ...
//     });
//   }, { requires: [dockerAvailable] });
//
// No registry is reachable, so images are `docker import`s of a root
// filesystem made of Debian's static busybox. dockerd runs in a network
// namespace of its own (its bridges and the containers' veths never show in
// the host's), without iptables, with every file, socket, mount and its own
// containerd under one temp dir, its containers under a cgroup of its own.
// stop() — also on exit, SIGINT and SIGTERM, and for the engines of runs that
// were killed, at the next start — removes all of that. Addresses must be
// test ones (198.18.0.0/15, 2001:db8::/32, fd00::/8): the harness refuses others.
//
// The one thing dockerd would share is a system containerd: it uses the one
// at /run/containerd/containerd.sock when that exists, so then the engine
// does not start (dockerAvailable says so).

import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';

import { untilExit } from '../../src/bench/busy-lab.js';
import { LabError, ownerState, selfIdentity, type ExecResult, type Owner } from '../../src/lab/netlab.js';
import { needCommands, needRoot, type Requirement } from './kernel.js';

/** Every engine's temp dir, namespace and cgroup are named `pmtu-dk-<pid>-<random>`. */
export const ENGINE_PREFIX = 'pmtu-dk-';
export const BUSYBOX = '/bin/busybox';
export const DEFAULT_IMAGE = 'pmtu-busybox:latest';

const START_TIMEOUT_MS = 20_000;
const DOCKER_TIMEOUT_MS = 30_000;
const DOCKERD_STOP_GRACE_MS = 10_000;
const REAP_BOUND_MS = 3_000;
const SYSTEM_CONTAINERD = '/run/containerd/containerd.sock';
// Made by dockerd and containerd whatever roots they are given: dockerd
// 20.10's plugin dir, containerd 1.6's shim sockets.
const SHARED_RUN_DIRS = ['/run/docker/plugins', '/run/docker', '/run/containerd/s', '/run/containerd'];
const HINT = 'bash scripts/ensure-deb.sh docker';

const TEST_RANGES: { net: string; prefix: number; family: 'ipv4' | 'ipv6' }[] = [
  { net: '198.18.0.0', prefix: 15, family: 'ipv4' },
  { net: '2001:db8::', prefix: 32, family: 'ipv6' },
  { net: 'fd00::', prefix: 8, family: 'ipv6' },
];

export interface DockerEngineOptions {
  /** A default bridge at this address/prefix (in 198.18.0.0/15); without it there is none (--bridge=none). */
  bip?: string;
  /** The default bridge's MTU (with bip). */
  mtu?: number;
  /** How long dockerd may take to answer `docker info`; default 20 s. */
  startTimeoutMs?: number;
}

export interface DockerOptions {
  /** Default 30 s; the CLI is then killed and the result has timedOut. */
  timeoutMs?: number;
  /** Throw a LabError unless the CLI exits with 0. Default true. */
  check?: boolean;
}

export interface NetworkOptions {
  /** IPv4 (198.18.0.0/15) or IPv6 (2001:db8::/32, fd00::/8) CIDR. */
  subnet: string;
  gateway?: string;
  /** The bridge's and the containers' interface MTU (com.docker.network.driver.mtu). */
  mtu?: number;
}

export interface RunOptions {
  /** A network made with network(); default 'none' (the engine has no default bridge unless bip was given). */
  network?: string;
  ip?: string;
  /** What runs (busybox applets are on PATH); default the image's, a shell. */
  cmd?: string[];
  /** Default the image importBusybox() made. */
  image?: string;
  privileged?: boolean;
  capAdd?: string[];
}

export interface Container {
  id: string;
  name: string;
  /** Its first process, as the host sees it. */
  pid: number;
  /** /proc/PID/ns/net. */
  netns: string;
  /** Inode of that namespace (what pmtu-watch reports a namespace by). */
  netnsInode: number;
}

export interface StopReport {
  ms: number;
  /** SIGKILL when dockerd did not stop on SIGTERM within 10 s. */
  dockerdSignal: 'SIGTERM' | 'SIGKILL' | 'exited';
  /** Processes of the engine that outlived dockerd and had to be killed (a clean stop kills none). */
  killed: string[];
  /** Mounts under the engine's dir that dockerd left and stop() unmounted. */
  unmounted: string[];
}

// ---------------------------------------------------------------------------
// Can the engine run here?

/** Why a Docker engine cannot run on this machine (one line), or undefined when it can. */
export const dockerAvailable: Requirement = () => {
  const root = needRoot();
  if (root) return root;
  const missing = ['dockerd', 'nsenter', 'ip', 'tar', 'umount'].filter((c) => needCommands(c)() !== undefined);
  if (missing.length) return `needs ${missing.join(', ')} for a Docker engine (${HINT})`;
  if (dockerCli() === undefined) return `needs the docker client that comes with dockerd (${HINT})`;
  if (!existsSync(BUSYBOX)) return `needs ${BUSYBOX} for the test images (${HINT})`;
  if (!isStaticElf(BUSYBOX)) return `needs a static ${BUSYBOX} (busybox-static, not busybox) for the test images`;
  if (cgroupMounts().length === 0) return 'needs cgroups mounted (none in /proc/self/mountinfo)';
  if (existsSync(SYSTEM_CONTAINERD)) return `a system containerd listens at ${SYSTEM_CONTAINERD}, which dockerd would share`;
  return undefined;
};

/**
 * The client installed with dockerd (Debian: /usr/sbin/dockerd, /usr/bin/docker):
 * another one on PATH (/usr/local/bin/docker) may be of another version.
 */
function dockerCli(): string | undefined {
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd', '/usr/local/sbin/dockerd', '/usr/local/bin/dockerd'].find((p) => existsSync(p));
  if (dockerd === undefined) return undefined;
  const dir = dirname(realpathSync(dockerd));
  return [join(dir, 'docker'), join(dir.replace(/sbin$/, 'bin'), 'docker')].find((p) => existsSync(p));
}

/** An ELF without a PT_INTERP program header needs no libraries from the image. */
function isStaticElf(path: string): boolean {
  const b = readFileSync(path);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

let ip6tablesFlag: boolean | undefined;
/** --ip6tables came with dockerd 20.10; older ones refuse the flag. */
function dockerdKnowsIp6tables(): boolean {
  ip6tablesFlag ??= /--ip6tables\b/.test(spawnSync('dockerd', ['--help'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '');
  return ip6tablesFlag;
}

/** Throws unless `addr` (an address, or a CIDR wholly) is a test address. */
export function checkTestAddress(addr: string): void {
  const [a, len] = addr.split('/');
  const family = isIPv4(a ?? '') ? 'ipv4' : isIPv6(a ?? '') ? 'ipv6' : undefined;
  const prefix = len === undefined ? (family === 'ipv4' ? 32 : 128) : Number(len);
  const ok =
    family !== undefined &&
    TEST_RANGES.some((r) => {
      if (r.family !== family || !(prefix >= r.prefix && prefix <= (family === 'ipv4' ? 32 : 128))) return false;
      const list = new BlockList();
      list.addSubnet(r.net, r.prefix, r.family);
      return list.check(a!, family);
    });
  if (!ok) throw new LabError(`${addr} is not a test address`, 'use 198.18.0.0/15, 2001:db8::/32 or fd00::/8');
}

// ---------------------------------------------------------------------------
// What an engine leaves, found by its name, and removed.

interface EngineFiles {
  /** pmtu-dk-<pid>-<random>: the temp dir's, the namespace's and the cgroup's name. */
  id: string;
  dir: string;
}

interface OwnerFile extends Owner {
  /** Which of SHARED_RUN_DIRS existed before the engine started: only the others are its to remove. */
  runDirsBefore: string[];
}

function engineFiles(id: string): EngineFiles {
  return { id, dir: join(tmpdir(), id) };
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

/** Mount points in this mount namespace, in mountinfo order (a mount after the one it is on). */
function mountPoints(): { point: string; fstype: string }[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-');
      return { point: f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), fstype: f[sep + 1] ?? '' };
    });
}

function cgroupMounts(): string[] {
  return mountPoints()
    .filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2')
    .map((m) => m.point);
}

/** The engine's cgroup in every hierarchy (dockerd's --cgroup-parent). */
function engineCgroups(id: string): string[] {
  return cgroupMounts()
    .map((m) => join(m, id))
    .filter((d) => existsSync(d));
}

/** Directories under `dir` (itself included), deepest first. */
function dirsDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of safe(() => readdirSync(d, { withFileTypes: true }), [])) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

/** What of the engine still runs: processes naming its dir (dockerd, containerd, shims, runc) and those in its cgroups. */
export function engineProcesses(id: string): { pid: number; cmd: string }[] {
  const { dir } = engineFiles(id);
  const pids = new Set<number>();
  for (const cg of engineCgroups(id))
    for (const d of dirsDeepestFirst(cg))
      for (const p of safe(() => readFileSync(join(d, 'cgroup.procs'), 'utf8'), '').split('\n')) if (p !== '') pids.add(Number(p));
  for (const e of safe(() => readdirSync('/proc'), [])) {
    if (!/^\d+$/.test(e)) continue;
    if (safe(() => readFileSync(`/proc/${e}/cmdline`, 'utf8'), '').includes(dir)) pids.add(Number(e));
  }
  pids.delete(process.pid);
  return [...pids].map((pid) => ({ pid, cmd: safe(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(), '') || `pid ${pid}` }));
}

/** Mount points under the engine's dir, deepest first. */
export function engineMounts(id: string): string[] {
  const { dir } = engineFiles(id);
  return mountPoints()
    .map((m) => m.point)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .reverse();
}

/**
 * The socket a containerd 1.6 shim listens on, from its command line: a
 * killed shim leaves it in /run/containerd/s, whatever containerd's own
 * roots are, named by a hash of containerd's address, namespace and the id.
 */
function shimSocket(cmd: string): string | undefined {
  const arg = (name: string) => new RegExp(`(?:^| )-${name} (\\S+)`).exec(cmd)?.[1];
  const [ns, id, address] = [arg('namespace'), arg('id'), arg('address')];
  if (!cmd.includes('containerd-shim') || !ns || !id || !address) return undefined;
  return join('/run/containerd/s', createHash('sha256').update(join(address, ns, id)).digest('hex'));
}

/**
 * Removes whatever of engine `id` is left, synchronously (exit and signal
 * handlers cannot wait): kills its processes, unmounts what is mounted under
 * its dir, deletes its namespace and cgroups, its dirs under /run and its dir.
 * Returns what it killed and unmounted, and what it could not remove.
 */
function reapEngine(id: string): { killed: string[]; unmounted: string[]; left: string[] } {
  const { dir } = engineFiles(id);
  const owner = safe(() => JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as OwnerFile, undefined);
  const killed: string[] = [];
  const left: string[] = [];
  const shimSockets = new Set<string>();
  const deadline = Date.now() + REAP_BOUND_MS;
  for (;;) {
    const procs = engineProcesses(id);
    if (procs.length === 0) break;
    if (Date.now() > deadline) {
      left.push(...procs.map((p) => `process ${p.pid} (${p.cmd})`));
      break;
    }
    for (const p of procs) {
      if (!killed.some((k) => k.startsWith(`${p.pid} `))) killed.push(`${p.pid} ${p.cmd}`);
      const socket = shimSocket(p.cmd);
      if (socket) shimSockets.add(socket);
      safe(() => process.kill(p.pid, 'SIGKILL'), undefined);
    }
    sleepSync(50);
  }
  const unmounted: string[] = [];
  for (const point of engineMounts(id)) {
    const r = spawnSync('umount', [point], { timeout: 5_000 });
    if (r.status !== 0) spawnSync('umount', ['-l', point], { timeout: 5_000 });
    unmounted.push(point);
  }
  const stillMounted = engineMounts(id);
  left.push(...stillMounted.map((p) => `mount ${p}`));
  if (existsSync(join('/run/netns', id))) {
    const r = spawnSync('ip', ['netns', 'del', id], { encoding: 'utf8', timeout: 5_000 });
    if (r.status !== 0) left.push(`namespace ${id}: ${(r.stderr ?? '').trim()}`);
  }
  for (const cg of engineCgroups(id)) {
    for (const d of dirsDeepestFirst(cg)) {
      // A killed process leaves its cgroup a moment after the signal.
      for (let i = 0; ; i++) {
        try {
          rmdirSync(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline + 2_000) {
            left.push(`cgroup ${d}: ${(e as Error).message}`);
            break;
          }
          sleepSync(50);
        }
      }
    }
  }
  for (const socket of shimSockets) safe(() => unlinkSync(socket), undefined);
  if (owner) for (const d of SHARED_RUN_DIRS) if (!owner.runDirsBefore.includes(d)) safe(() => rmdirSync(d), undefined);
  // With anything still mounted under it, deleting the dir would reach into the mount.
  if (stillMounted.length === 0) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      left.push(`dir ${dir}: ${(e as Error).message}`);
    }
  } else {
    left.push(`dir ${dir} (kept: mounts remain under it)`);
  }
  return { killed, unmounted, left };
}

/**
 * Removes what the engines of runs that are gone (killed with -9, so no
 * handler ran) left. Every start does this first; returns the ids reaped.
 */
export function reapStaleEngines(): string[] {
  const reaped: string[] = [];
  for (const name of safe(() => readdirSync(tmpdir()), [])) {
    if (!name.startsWith(ENGINE_PREFIX)) continue;
    const owner = safe(() => JSON.parse(readFileSync(join(tmpdir(), name, 'owner.json'), 'utf8')) as OwnerFile, undefined);
    if (owner === undefined || ownerState(owner) !== 'dead') continue;
    reapEngine(name);
    reaped.push(name);
  }
  return reaped;
}

// ---------------------------------------------------------------------------
// The engine

/** The last line that says something (dockerd ends a flag error with "See 'dockerd --help'."). */
function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^See '.*--help'/.test(l))
      .pop() ?? ''
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class DockerEngine {
  /** pmtu-dk-<pid>-<random>: the name of its temp dir, network namespace and cgroup. */
  readonly id: string;
  /** The temp dir holding its data, exec root, sockets and log. */
  readonly dir: string;
  /** The named network namespace dockerd runs in (`ip netns` name). */
  readonly netns: string;
  /** DOCKER_HOST for a client of this engine. */
  readonly host: string;
  /** The docker client that came with dockerd (for tools run against this engine: DOCKER_HOST=host). */
  readonly cli: string;
  private dockerd: ChildProcess | undefined;
  private dockerdExited: Promise<void> = Promise.resolve();
  private release: () => void = () => {};
  private reaped: ReturnType<typeof reapEngine> | undefined;
  private stopping: Promise<StopReport> | undefined;

  private constructor(files: EngineFiles, cli: string) {
    this.id = files.id;
    this.dir = files.dir;
    this.netns = files.id;
    this.host = `unix://${join(files.dir, 'docker.sock')}`;
    this.cli = cli;
  }

  /** /run/netns/<netns>. */
  get netnsPath(): string {
    return join('/run/netns', this.netns);
  }

  /**
   * dockerd's --exec-root: a container's network namespace is bind-mounted
   * at netns/<sandbox id> under it (where /var/run/docker/netns is for a
   * system engine), which namespace discovery may look for.
   */
  get execRoot(): string {
    return join(this.dir, 'exec');
  }

  /** dockerd's pid (in the host's pid namespace). */
  get pid(): number {
    return this.dockerd?.pid ?? -1;
  }

  /** dockerd's log (warnings and errors). */
  log(): string {
    return safe(() => readFileSync(join(this.dir, 'dockerd.log'), 'utf8'), '');
  }

  /** Use startDockerEngine(). */
  static async start(opts: DockerEngineOptions = {}): Promise<DockerEngine> {
    const why = dockerAvailable();
    if (why) throw new LabError(`no Docker engine: ${why}`, HINT);
    if (opts.bip !== undefined) checkTestAddress(opts.bip);
    reapStaleEngines();
    const files = engineFiles(`${ENGINE_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    const engine = new DockerEngine(files, dockerCli()!);
    mkdirSync(files.dir, { mode: 0o700 });
    const owner: OwnerFile = { ...selfIdentity(), runDirsBefore: SHARED_RUN_DIRS.filter((d) => existsSync(d)) };
    writeFileSync(join(files.dir, 'owner.json'), `${JSON.stringify(owner)}\n`);
    // From here on, whatever happens (a failed start, a test that throws,
    // Ctrl-C), the engine is removed.
    engine.release = untilExit(() => {
      safe(() => engine.dockerd?.kill('SIGKILL'), false);
      engine.reaped = reapEngine(files.id);
    });
    try {
      await engine.launch(opts);
    } catch (e) {
      await engine.stop().catch(() => undefined);
      throw e;
    }
    return engine;
  }

  private async launch(opts: DockerEngineOptions): Promise<void> {
    const started = Date.now();
    const d = (f: string) => join(this.dir, f);
    const ip = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8', timeout: 5_000 });
    const add = ip(['netns', 'add', this.netns]);
    if (add.status !== 0) throw new LabError(`ip netns add ${this.netns}: ${lastLine(add.stderr ?? '')}`);
    ip(['-n', this.netns, 'link', 'set', 'lo', 'up']);
    // Not the host's /etc/docker/daemon.json, nor its /etc/docker/key.json
    // (a key dockerd 20.10 takes from its config file only).
    writeFileSync(d('daemon.json'), `${JSON.stringify({ 'deprecated-key-path': d('key.json') })}\n`);
    const network = opts.bip === undefined ? ['--bridge=none'] : [`--bip=${opts.bip}`, ...(opts.mtu ? [`--mtu=${opts.mtu}`] : [])];
    const argv = [
      // nsenter, not `ip netns exec`: that one also remounts /sys in a mount
      // namespace of its own, where dockerd finds no cgroups.
      `--net=${this.netnsPath}`,
      '--',
      'dockerd',
      `--data-root=${d('data')}`,
      `--exec-root=${this.execRoot}`,
      `--pidfile=${d('dockerd.pid')}`,
      `--host=${this.host}`,
      `--config-file=${d('daemon.json')}`,
      `--cgroup-parent=/${this.id}`,
      '--exec-opt=native.cgroupdriver=cgroupfs',
      '--iptables=false',
      ...(dockerdKnowsIp6tables() ? ['--ip6tables=false'] : []),
      ...network,
      '--userland-proxy=false',
      '--log-level=warn',
    ];
    const log = openSync(d('dockerd.log'), 'a');
    try {
      this.dockerd = spawn('nsenter', argv, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const child = this.dockerd;
    let exit: string | undefined;
    this.dockerdExited = new Promise((resolve) => {
      child.once('error', (e) => {
        exit = e.message;
        resolve();
      });
      child.once('exit', (code, signal) => {
        exit = signal ? `killed by ${signal}` : `exited with ${code}`;
        resolve();
      });
    });
    const timeoutMs = opts.startTimeoutMs ?? START_TIMEOUT_MS;
    for (;;) {
      if (exit !== undefined) throw new LabError(`dockerd ${exit}: ${lastLine(this.log()) || 'no log'}`);
      const r = await this.docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 2_000, check: false });
      if (r.code === 0) break;
      if (Date.now() - started > timeoutMs)
        throw new LabError(`dockerd did not answer within ${timeoutMs / 1000} s: ${lastLine(this.log()) || lastLine(r.stderr) || 'no log'}`);
      await sleep(100);
    }
    const containerd = engineProcesses(this.id).find((p) => p.cmd.includes(join(this.execRoot, 'containerd')));
    if (!containerd) throw new LabError('dockerd answers but runs no containerd of its own under its exec root');
  }

  /** The docker CLI against this engine. Throws (with the CLI's last words) on failure unless check is false. */
  docker(args: readonly string[], opts: DockerOptions = {}): Promise<ExecResult> {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: join(this.dir, 'cli') };
    for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete env[k];
    const timeoutMs = opts.timeoutMs ?? DOCKER_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      execFile(this.cli, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null }) | null;
        const timedOut = e?.killed === true && e.signal === 'SIGKILL';
        const r: ExecResult = {
          code: e ? (typeof e.code === 'number' ? e.code : e.signal ? null : 127) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
          timedOut,
        };
        if (opts.check !== false && r.code !== 0) {
          const how = timedOut ? `timed out after ${timeoutMs / 1000} s` : `exited with ${r.code ?? r.signal}`;
          reject(new LabError(`docker ${args.join(' ')} ${how}: ${lastLine(stderr) || lastLine(stdout)}`));
        } else resolve(r);
      });
    });
  }

  /**
   * Imports an image `tag` whose root filesystem is Debian's static busybox
   * with every applet linked (sh, ip, ping, wget, httpd, nc, unshare...),
   * /tmp, /proc, /sys, /dev, /var/www and a passwd. Returns the tag.
   * Bound a fetch with `timeout 5 wget ...`: Debian's busybox 1.35 wget
   * dies of SIGSEGV when given -T.
   */
  async importBusybox(tag = DEFAULT_IMAGE): Promise<string> {
    const rootfs = join(this.dir, 'busybox-rootfs');
    rmSync(rootfs, { recursive: true, force: true });
    for (const sub of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', 'run', 'var/www']) mkdirSync(join(rootfs, sub), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    const applets = spawnSync(BUSYBOX, ['--list-full'], { encoding: 'utf8', timeout: 5_000 }).stdout ?? '';
    for (const path of applets.split('\n')) {
      if (path === '' || path === 'bin/busybox' || existsSync(join(rootfs, path))) continue;
      mkdirSync(join(rootfs, dirname(path)), { recursive: true });
      symlinkSync('/bin/busybox', join(rootfs, path));
    }
    const missing = ['sh', 'ip', 'ping', 'wget', 'httpd', 'nc', 'sleep', 'unshare', 'ifconfig', 'route', 'cat', 'dd'].filter((a) => !applets.split('\n').some((p) => p.endsWith(`/${a}`)));
    if (missing.length) throw new LabError(`${BUSYBOX} has no ${missing.join(', ')} applets`, 'install busybox-static');
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const tar = join(this.dir, 'busybox-rootfs.tar');
    const t = spawnSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', tar, '.'], { encoding: 'utf8', timeout: 30_000 });
    if (t.status !== 0) throw new LabError(`tar of the busybox root filesystem failed: ${lastLine(t.stderr ?? '')}`);
    // The tarball made it; keeping the tree too would double what stop() removes.
    rmSync(rootfs, { recursive: true, force: true });
    await this.docker(['import', '--change', 'CMD ["/bin/sh"]', tar, tag], { timeoutMs: 60_000 });
    return tag;
  }

  /** A bridge network (in the engine's namespace) at `mtu`; returns its id. */
  async network(name: string, opts: NetworkOptions): Promise<string> {
    checkTestAddress(opts.subnet);
    if (opts.gateway !== undefined) checkTestAddress(opts.gateway);
    const args = ['network', 'create', '--driver=bridge', `--subnet=${opts.subnet}`];
    if (opts.gateway !== undefined) args.push(`--gateway=${opts.gateway}`);
    if (opts.subnet.includes(':')) args.push('--ipv6');
    if (opts.mtu !== undefined) args.push('-o', `com.docker.network.driver.mtu=${opts.mtu}`);
    const r = await this.docker([...args, name]);
    return r.stdout.trim();
  }

  /** Starts a container (detached) and returns it once it runs. */
  async run(name: string, opts: RunOptions = {}): Promise<Container> {
    if (opts.ip !== undefined) checkTestAddress(opts.ip);
    const args = ['run', '--detach', `--name=${name}`, `--network=${opts.network ?? 'none'}`];
    if (opts.ip !== undefined) args.push(opts.ip.includes(':') ? `--ip6=${opts.ip}` : `--ip=${opts.ip}`);
    if (opts.privileged) args.push('--privileged');
    for (const cap of opts.capAdd ?? []) args.push(`--cap-add=${cap}`);
    args.push(opts.image ?? DEFAULT_IMAGE, ...(opts.cmd ?? []));
    const id = (await this.docker(args, { timeoutMs: 60_000 })).stdout.trim();
    const r = await this.docker(['inspect', '--format', '{{.State.Pid}} {{.State.Running}}', id]);
    const [pid, running] = r.stdout.trim().split(' ');
    if (running !== 'true' || !(Number(pid) > 0)) {
      const logs = await this.docker(['logs', '--tail=1', id], { check: false });
      throw new LabError(`container ${name} is not running: ${lastLine(logs.stderr) || lastLine(logs.stdout) || r.stdout.trim()}`);
    }
    const netns = `/proc/${pid}/ns/net`;
    return { id, name, pid: Number(pid), netns, netnsInode: statSync(netns).ino };
  }

  /** Removes a container, running or not. */
  async rm(name: string): Promise<void> {
    await this.docker(['rm', '--force', name]);
  }

  /**
   * Removes the containers and networks, stops dockerd (SIGTERM, SIGKILL
   * after 10 s), then removes whatever of the engine is left: processes,
   * mounts, the namespace, its cgroups, its dir. Idempotent. Throws when
   * something could not be removed, naming it.
   */
  stop(): Promise<StopReport> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private async stopOnce(): Promise<StopReport> {
    const started = Date.now();
    let dockerdSignal: StopReport['dockerdSignal'] = 'exited';
    const child = this.dockerd;
    if (child && child.exitCode === null && child.signalCode === null) {
      // Bounded each, and a failure here is no reason to keep dockerd running.
      const ids = await this.docker(['ps', '--all', '--quiet'], { timeoutMs: 10_000, check: false });
      const containers = ids.stdout.split('\n').filter((l) => l !== '');
      if (containers.length) await this.docker(['rm', '--force', ...containers], { timeoutMs: 30_000, check: false });
      const nets = await this.docker(['network', 'ls', '--quiet', '--filter', 'type=custom'], { timeoutMs: 10_000, check: false });
      const networks = nets.stdout.split('\n').filter((l) => l !== '');
      if (networks.length) await this.docker(['network', 'rm', ...networks], { timeoutMs: 30_000, check: false });
      dockerdSignal = 'SIGTERM';
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        dockerdSignal = 'SIGKILL';
        child.kill('SIGKILL');
      }, DOCKERD_STOP_GRACE_MS);
      await this.dockerdExited;
      clearTimeout(timer);
    }
    // containerd and the shims end with dockerd, a moment later.
    const deadline = Date.now() + 5_000;
    while (engineProcesses(this.id).length > 0 && Date.now() < deadline) await sleep(50);
    this.release();
    const reaped = this.reaped ?? { killed: [], unmounted: [], left: [] };
    if (reaped.left.length) throw new LabError(`engine ${this.id} left: ${reaped.left.join('; ')}`);
    return { ms: Date.now() - started, dockerdSignal, killed: reaped.killed, unmounted: reaped.unmounted };
  }
}

/** Starts a Docker engine of its own (see the top of this file); stop() it, or use useDockerEngines(). */
export function startDockerEngine(opts: DockerEngineOptions = {}): Promise<DockerEngine> {
  return DockerEngine.start(opts);
}

/** For a test file: start() engines in tests; each is stopped after its test, passed or failed. */
export function useDockerEngines(): { start(opts?: DockerEngineOptions): Promise<DockerEngine> } {
  const made: DockerEngine[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((e) => e.stop()));
  });
  return {
    async start(opts) {
      const engine = await startDockerEngine(opts);
      made.push(engine);
      return engine;
    },
  };
}
