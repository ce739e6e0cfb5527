// Vitest setup: the strings (English), and a clean DOM and IPC mock after each test.
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/react';
import { clearMocks } from '@tauri-apps/api/mocks';
import '../../src/i18n';

afterEach(() => {
  cleanup();
  clearMocks();
});
