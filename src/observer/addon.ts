// Loads the native addon with its typed surface: the prebuilt one an npm
// tarball carries (prebuilds/<platform>-<arch>/pmtu_native.node) when it is
// there, else the one node-gyp built (build/Release/pmtu_native.node).
// scripts/install.mjs keeps at most one of them: a source build removes the
// prebuild, so what loads is what the install chose.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { PmtuError } from '../errors.js';
import type * as Native from '../../native/index.js';
import { loadFailureHint, PREBUILD_ADDON, prebuildDir } from './prebuild.js';

export type NativeAddon = typeof Native;

const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where node-gyp puts the addon (a source build). */
export const ADDON_PATH = fileURLToPath(new URL('../../build/Release/pmtu_native.node', import.meta.url));

/** Where the npm tarball's prebuilt addon for this platform and architecture is. */
export const PREBUILD_PATH = `${prebuildDir(PACKAGE_ROOT)}/${PREBUILD_ADDON}`;

/** The addon loadAddon() loads: the prebuild if there is one, else the source build's (there or not). */
export function addonPath(exists: (path: string) => boolean = existsSync): string {
  return exists(PREBUILD_PATH) ? PREBUILD_PATH : ADDON_PATH;
}

/** What to do when the addon cannot be loaded, for this platform and the loader's message. */
export function noAddonHint(message: string, platform: string = process.platform): string {
  if (platform !== 'linux')
    return `the native addon is Linux only (eBPF): report, replay and export work on ${platform}; live, serve, record and audit need a Linux host`;
  return loadFailureHint(message) ?? 'run npm install: it uses the prebuilt addon, or builds one where none fits';
}

let loaded: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  const path = addonPath();
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
    return loaded;
  } catch (e) {
    const first = (e as Error).message.split('\n')[0] ?? '';
    throw new PmtuError('PMTU_ERR_NO_ADDON', `cannot load the native addon ${path}: ${first}`, noAddonHint(first));
  }
}
