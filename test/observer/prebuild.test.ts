// The prebuild's ABI check (what scripts/install.mjs decides on) and the
// hints for a load that fails on a library: pure, on manifests written here.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { checkPrebuild, loadFailureHint, mismatch, versionBelow, type HostAbi, type PrebuildManifest } from '../../src/observer/prebuild.js';

const MANIFEST: PrebuildManifest = {
  name: 'pmtu-watch',
  version: '0.3.0',
  platform: 'linux',
  arch: 'x64',
  napi: 8,
  libc: 'glibc',
  glibc: '2.34',
  needs: ['libbpf.so.1', 'libelf.so.1', 'libz.so.1', 'libstdc++.so.6', 'libc.so.6'],
  addon: 'pmtu_native.node',
  bpf: 'pmtu.bpf.o',
  sha256: '0'.repeat(64),
  built: {},
};
const HOST: HostAbi = { platform: 'linux', arch: 'x64', napi: 9, glibc: '2.36' };

const dir = mkdtempSync(join(tmpdir(), 'pmtu-prebuild-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the prebuild fits', () => {
  it('the same platform, arch and version, an N-API and a glibc at least as new', () => {
    expect(mismatch(MANIFEST, HOST, '0.3.0')).toBeUndefined();
    expect(mismatch(MANIFEST, { ...HOST, napi: 8, glibc: '2.34' }, '0.3.0')).toBeUndefined();
    expect(mismatch(MANIFEST, { ...HOST, glibc: '2.40' }, '0.3.0')).toBeUndefined();
  });

  it('not another platform, arch, version, an older N-API, an older glibc or none', () => {
    expect(mismatch(MANIFEST, { ...HOST, arch: 'arm64' }, '0.3.0')).toBe('it is for linux-x64, this is linux-arm64');
    expect(mismatch(MANIFEST, { ...HOST, platform: 'darwin' }, '0.3.0')).toBe('it is for linux-x64, this is darwin-x64');
    expect(mismatch(MANIFEST, HOST, '0.4.0')).toBe('it was built for pmtu-watch 0.3.0, this is 0.4.0');
    expect(mismatch(MANIFEST, { ...HOST, napi: 7 }, '0.3.0')).toMatch(/^it needs N-API 8, this Node v[\d.]+ has 7$/);
    expect(mismatch(MANIFEST, { ...HOST, glibc: '2.31' }, '0.3.0')).toBe('it needs glibc 2.34 or later, this host has 2.31');
    expect(mismatch(MANIFEST, { ...HOST, glibc: undefined }, '0.3.0')).toBe('it needs glibc 2.34 or later, and this Node does not run on glibc');
  });

  it('compares versions as numbers', () => {
    expect(versionBelow('2.9', '2.34')).toBe(true);
    expect(versionBelow('2.34', '2.34')).toBe(false);
    expect(versionBelow('2.34.1', '2.34')).toBe(false);
    expect(versionBelow('3.0', '2.34')).toBe(false);
  });

  it('checkPrebuild reads the manifest beside the package.json, and a file that is no addon does not fit', () => {
    expect(checkPrebuild(dir, HOST)).toMatchObject({ fits: false, why: expect.stringMatching(/^there is no .*prebuild\.json$/) });
    const pre = join(dir, 'prebuilds/linux-x64');
    mkdirSync(pre, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pmtu-watch', version: '0.3.0' }));
    writeFileSync(join(pre, 'prebuild.json'), JSON.stringify(MANIFEST));
    writeFileSync(join(pre, 'pmtu_native.node'), 'not an ELF file');
    expect(checkPrebuild(dir, { ...HOST, napi: 7 })).toMatchObject({ fits: false, why: expect.stringMatching(/N-API 8/) });
    expect(checkPrebuild(dir, HOST)).toMatchObject({ fits: false, why: expect.stringMatching(/^it does not load: /) });
  });
});

describe('a load that fails on a library', () => {
  it('names the library and the package to install', () => {
    expect(loadFailureHint('/x/pmtu_native.node: libbpf.so.1: cannot open shared object file: No such file or directory')).toBe(
      'libbpf.so.1 is missing: apt install libbpf1 libelf1 (Fedora: dnf install libbpf elfutils-libelf)',
    );
    expect(loadFailureHint('libz.so.1: cannot open shared object file: No such file or directory')).toBe('libz.so.1 is missing: apt install zlib1g (Fedora: dnf install zlib)');
    expect(loadFailureHint('libfoo.so.3: cannot open shared object file: No such file or directory')).toBe('libfoo.so.3 is missing: install the package that provides it');
  });

  it('too old a libbpf, glibc or libstdc++', () => {
    expect(loadFailureHint("/lib/x86_64-linux-gnu/libbpf.so.1: version `LIBBPF_1.2.0' not found (required by /x/pmtu_native.node)")).toMatch(/^libbpf\.so\.1 is older than 1\.2\.0: /);
    expect(loadFailureHint("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by /x/pmtu_native.node)")).toBe(
      'this glibc is older than 2.34, which the prebuilt addon needs: PMTU_WATCH_BUILD_FROM_SOURCE=1 npm install builds one against it',
    );
    expect(loadFailureHint("Cannot find module '/x/pmtu_native.node'")).toBeUndefined();
  });
});
