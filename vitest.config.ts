import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    setupFiles: ['test/setup/trap.ts'],
    // An unhandled rejection or error anywhere fails the run (never ignored).
    dangerouslyIgnoreUnhandledErrors: false,
    testTimeout: 60_000,
    pool: 'forks',
  },
});
