// Loading the native addon: where it is looked for (the tarball's prebuild,
// then node-gyp's build), and the one-line error (with what to do, for this
// platform and for a missing system library) when it cannot load. The
// require is faked: no addon is loaded, built or needed here.

import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

import { oneLine, PmtuError } from '../../src/errors.js';

const requireCalls = vi.hoisted(() => [] as string[]);
vi.mock('node:module', async (importOriginal) => {
  const mod = await importOriginal<typeof import('node:module')>();
  return {
    ...mod,
    createRequire: () => (id: string) => {
      requireCalls.push(id);
      throw Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- /somewhere/addon.js`), { code: 'MODULE_NOT_FOUND' });
    },
  };
});
// The worktree has no prebuild (npm pack's postpack removes it); say so whatever was left lying around.
vi.mock('node:fs', async (importOriginal) => {
  const mod = await importOriginal<typeof import('node:fs')>();
  return { ...mod, existsSync: (p: string) => (String(p).includes('/prebuilds/') ? false : mod.existsSync(p)) };
});

const { ADDON_PATH, PREBUILD_PATH, addonPath, loadAddon, noAddonHint } = await import('../../src/observer/addon.js');

describe('loadAddon', () => {
  it('looks for the prebuild of this platform first, then build/Release/pmtu_native.node at the top of the package', () => {
    expect(ADDON_PATH).toBe(fileURLToPath(new URL('../../build/Release/pmtu_native.node', import.meta.url)));
    expect(PREBUILD_PATH).toBe(fileURLToPath(new URL(`../../prebuilds/${process.platform}-${process.arch}/pmtu_native.node`, import.meta.url)));
    expect(addonPath((p) => p === PREBUILD_PATH || p === ADDON_PATH)).toBe(PREBUILD_PATH);
    expect(addonPath((p) => p === ADDON_PATH)).toBe(ADDON_PATH);
    expect(addonPath(() => false)).toBe(ADDON_PATH);
  });

  it('a missing addon is PMTU_ERR_NO_ADDON, one line naming the file, and says to run npm install', () => {
    let err: unknown;
    try {
      loadAddon();
    } catch (e) {
      err = e;
    }
    expect(requireCalls).toEqual([ADDON_PATH]);
    expect(err).toBeInstanceOf(PmtuError);
    expect((err as PmtuError).code).toBe('PMTU_ERR_NO_ADDON');
    expect((err as PmtuError).hint).toMatch(process.platform === 'linux' ? /npm install/ : /Linux only/);
    const line = oneLine(err);
    if (process.platform === 'linux')
      expect(line).toBe(`pmtu-watch: cannot load the native addon ${ADDON_PATH}: Cannot find module '${ADDON_PATH}' (run npm install: it uses the prebuilt addon, or builds one where none fits)`);
  });

  it('the hint fits the platform and names the package of a missing library', () => {
    expect(noAddonHint("Cannot find module 'x'", 'darwin')).toBe(
      'the native addon is Linux only (eBPF): report, replay and export work on darwin; live, serve, record and audit need a Linux host',
    );
    expect(noAddonHint('libbpf.so.1: cannot open shared object file: No such file or directory', 'linux')).toBe(
      'libbpf.so.1 is missing: apt install libbpf1 libelf1 (Fedora: dnf install libbpf elfutils-libelf)',
    );
    expect(noAddonHint('libelf.so.1: cannot open shared object file: No such file or directory', 'linux')).toMatch(/^libelf\.so\.1 is missing: apt install libelf1 /);
  });
});
