// The prebuilt addon an npm tarball carries (prebuilds/<platform>-<arch>/,
// made by scripts/prebuild.mjs on `npm pack`), what it needs of a host (its
// prebuild.json), and why it does or does not fit this one. scripts/install.mjs
// asks checkPrebuild() before deciding not to build; addon.ts loads the
// prebuild first and explains a load failure with loadFailureHint().
//
// The ABI check: the platform and the CPU architecture are the same; this
// Node's N-API version is at least the one the addon was compiled for
// (NAPI_VERSION in binding.gyp; N-API is stable across Node versions, so one
// build serves every Node from then on); the C library is glibc, at least as
// new as the newest GLIBC_ symbol version the addon links against; the
// package version is the one it was built from. Then a real load (dlopen)
// shows what the manifest cannot: a shared library missing or too old.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const PREBUILD_ADDON = 'pmtu_native.node';
export const PREBUILD_MANIFEST = 'prebuild.json';

/** prebuilds/<platform>-<arch>/prebuild.json */
export interface PrebuildManifest {
  name: string;
  /** The package version it was built from. */
  version: string;
  platform: string;
  arch: string;
  /** The N-API version it was compiled against (NAPI_VERSION). */
  napi: number;
  libc: 'glibc';
  /** The newest GLIBC_x.y symbol version it uses: the oldest glibc it runs on. */
  glibc: string;
  /** Its DT_NEEDED shared libraries (libbpf.so.1, libelf.so.1, ...). */
  needs: string[];
  /** The file names of the addon and of the linked CO-RE BPF object (the bytes the addon's skeleton carries). */
  addon: string;
  bpf: string;
  /** sha256 of the addon. */
  sha256: string;
  built: Record<string, string>;
}

export interface HostAbi {
  platform: string;
  arch: string;
  napi: number;
  /** The glibc this process runs on, undefined off glibc (musl, macOS). */
  glibc: string | undefined;
}

export function prebuildDir(root: string, platform: string = process.platform, arch: string = process.arch): string {
  return join(root, 'prebuilds', `${platform}-${arch}`);
}

/** The glibc version the running process uses (as detect-libc reads it), or undefined. */
function runtimeGlibc(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const report = process.report as (typeof process.report & { excludeNetwork?: boolean }) | undefined;
  if (!report) return undefined;
  const exclude = report.excludeNetwork;
  report.excludeNetwork = true; // no DNS lookups for the report's handles
  try {
    const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
    return header?.glibcVersionRuntime;
  } finally {
    report.excludeNetwork = exclude;
  }
}

export function hostAbi(): HostAbi {
  return { platform: process.platform, arch: process.arch, napi: Number(process.versions.napi ?? 0), glibc: runtimeGlibc() };
}

/** a < b for dotted version numbers (2.9 < 2.34). */
export function versionBelow(a: string, b: string): boolean {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

/** Why the prebuild does not fit this host, or undefined when it does (a load then tells the rest). */
export function mismatch(m: PrebuildManifest, host: HostAbi, version: string): string | undefined {
  if (m.platform !== host.platform || m.arch !== host.arch) return `it is for ${m.platform}-${m.arch}, this is ${host.platform}-${host.arch}`;
  if (m.version !== version) return `it was built for pmtu-watch ${m.version}, this is ${version}`;
  if (!(host.napi >= m.napi)) return `it needs N-API ${m.napi}, this Node ${process.version} has ${host.napi}`;
  if (host.glibc === undefined) return `it needs glibc ${m.glibc} or later, and this Node does not run on glibc`;
  if (versionBelow(host.glibc, m.glibc)) return `it needs glibc ${m.glibc} or later, this host has ${host.glibc}`;
  return undefined;
}

/** Debian's package for each library the addon may need, and Fedora's. */
const PACKAGES: Record<string, { deb: string; rpm: string }> = {
  'libbpf.so.1': { deb: 'libbpf1 libelf1', rpm: 'libbpf elfutils-libelf' },
  'libelf.so.1': { deb: 'libelf1', rpm: 'elfutils-libelf' },
  'libz.so.1': { deb: 'zlib1g', rpm: 'zlib' },
  'libstdc++.so.6': { deb: 'libstdc++6', rpm: 'libstdc++' },
};

/**
 * What to do about a failed load of the addon, from the loader's message:
 * a missing or too old shared library, too old a glibc. Undefined when the
 * message is about something else.
 */
export function loadFailureHint(message: string): string | undefined {
  const missing = /(lib[\w+.-]+\.so[\d.]*): cannot open shared object file/.exec(message);
  if (missing) {
    const lib = missing[1]!;
    const pkg = PACKAGES[lib];
    return pkg ? `${lib} is missing: apt install ${pkg.deb} (Fedora: dnf install ${pkg.rpm})` : `${lib} is missing: install the package that provides it`;
  }
  const old = /version `(LIBBPF|GLIBC|GLIBCXX)_([\d.]+)' not found/.exec(message);
  if (old) {
    const [, which, v] = old;
    if (which === 'LIBBPF') return `libbpf.so.1 is older than ${v}: upgrade libbpf1, or build against this one with PMTU_WATCH_BUILD_FROM_SOURCE=1 npm install`;
    const lib = which === 'GLIBC' ? 'glibc' : 'libstdc++';
    return `this ${lib} is older than ${v}, which the prebuilt addon needs: PMTU_WATCH_BUILD_FROM_SOURCE=1 npm install builds one against it`;
  }
  return undefined;
}

export type PrebuildCheck =
  | { fits: true; dir: string; manifest: PrebuildManifest; loadError?: undefined; hint?: undefined }
  /** It is the right build, but a library it needs is missing or too old here: installing that fixes it, building would not. */
  | { fits: true; dir: string; manifest: PrebuildManifest; loadError: string; hint: string }
  | { fits: false; dir: string; why: string };

/**
 * Whether the prebuild under `root` (a package's top directory) fits this
 * host: the manifest, then a real load of the addon.
 */
export function checkPrebuild(root: string, host: HostAbi = hostAbi()): PrebuildCheck {
  const dir = prebuildDir(root, host.platform, host.arch);
  const manifestPath = join(dir, PREBUILD_MANIFEST);
  if (!existsSync(manifestPath)) return { fits: false, dir, why: `there is no ${manifestPath}` };
  let manifest: PrebuildManifest;
  let version: string;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PrebuildManifest;
    version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch (e) {
    return { fits: false, dir, why: `cannot read ${manifestPath}: ${(e as Error).message}` };
  }
  const why = mismatch(manifest, host, version);
  if (why) return { fits: false, dir, why };
  try {
    createRequire(import.meta.url)(join(dir, manifest.addon));
    return { fits: true, dir, manifest };
  } catch (e) {
    const loadError = (e as Error).message.split('\n')[0] ?? '';
    // A system library to install (building would need it too); anything else, glibc or libstdc++ too old included, a build fixes.
    const hint = /cannot open shared object file|`LIBBPF_/.test(loadError) ? loadFailureHint(loadError) : undefined;
    return hint ? { fits: true, dir, manifest, loadError, hint } : { fits: false, dir, why: `it does not load: ${loadError}` };
  }
}
