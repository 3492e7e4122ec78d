// Loading the native addon: where it is looked for, and the one-line error
// (with what to do) when it is not there. The require is faked: no addon is
// loaded, built or needed here.

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

const { ADDON_PATH, loadAddon } = await import('../../src/observer/addon.js');

describe('loadAddon', () => {
  it('looks for build/Release/pmtu_native.node at the top of the package', () => {
    expect(ADDON_PATH).toBe(fileURLToPath(new URL('../../build/Release/pmtu_native.node', import.meta.url)));
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
    expect((err as PmtuError).hint).toMatch(/npm install/);
    const line = oneLine(err);
    expect(line).toBe(`pmtu-watch: cannot load the native addon ${ADDON_PATH}: Cannot find module '${ADDON_PATH}' (run npm install: it builds the addon)`);
  });
});
