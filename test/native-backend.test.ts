/**
 * The `native` project's status line: which TensorFlow the engine suites ran
 * on, or (visibly) why they were skipped.
 */
import { it, expect } from 'vitest';
import { initBackend } from '../src/cpc/backend.js';
import { BACKEND_SKIP_REASON, TEST_BACKEND } from './helpers.js';

it.skipIf(BACKEND_SKIP_REASON)(
  `native backend: ${BACKEND_SKIP_REASON ? `SKIPPED, ${BACKEND_SKIP_REASON}` : `the engine suites run on ${TEST_BACKEND}`}`,
  async () => {
    const info = await initBackend(TEST_BACKEND);
    expect(info.name).toBe('tensorflow');
    console.log(`native backend: ${JSON.stringify(info)}`);
  },
);

// (the default reporter does not print skipped tests' names: say it where everyone sees it)
if (BACKEND_SKIP_REASON) console.warn(`native backend: SKIPPED, ${BACKEND_SKIP_REASON}`);
