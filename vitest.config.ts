import { defineConfig } from 'vitest/config';

// Three projects: "unit" runs anywhere; "kernel" needs root, BTF and the built
// addon, builds its own network namespaces, and must not share the machine
// with itself (namespaces, tc hooks and timing), hence one file at a time;
// "browser" drives the web page in Debian's headless chromium (and the
// built dist/web/: run tsc first), one file at a time too.
export default defineConfig({
  test: {
    reporters: ['default', './test/reporters/summary.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.kernel.test.ts', 'test/**/*.browser.test.ts'],
        },
      },
      {
        test: {
          name: 'kernel',
          include: ['test/**/*.kernel.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The web page in Debian's headless chromium: one browser at a time.
        test: {
          name: 'browser',
          include: ['test/**/*.browser.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
