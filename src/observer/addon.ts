// Loads the native addon (build/Release/pmtu_native.node) with its typed surface.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { PmtuError } from '../errors.js';
import type * as Native from '../../native/index.js';

export type NativeAddon = typeof Native;

export const ADDON_PATH = fileURLToPath(new URL('../../build/Release/pmtu_native.node', import.meta.url));

let loaded: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    return loaded;
  } catch (e) {
    throw new PmtuError(
      'PMTU_ERR_NO_ADDON',
      `cannot load the native addon ${ADDON_PATH}: ${(e as Error).message.split('\n')[0]}`,
      'run npm install: it builds the addon',
    );
  }
}
