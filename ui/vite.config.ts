// Vite configuration of the kiosk front end.
//
// `vite build` makes ui/dist, what Tauri ships (its frontendDist). `vite build --mode mock
// --outDir dist-mock` makes the same app with a fake kiosk standing in for the Rust side
// (src/mock/): the screen tests drive that build in Chromium. The mock entry is swapped in
// only in mock mode, so nothing of it reaches ui/dist.
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

const APP_ENTRY = '/src/main.tsx';
const MOCK_ENTRY = '/src/mock/entry.ts';

/** In mock mode, index.html loads the mock entry (which installs the fake IPC, then the app). */
function mockEntry(): Plugin {
  return {
    name: 'gatepass-mock-entry',
    transformIndexHtml: {
      order: 'pre',
      handler(html) {
        if (!html.includes(APP_ENTRY)) throw new Error(`index.html no longer loads ${APP_ENTRY}`);
        return html.replace(APP_ENTRY, MOCK_ENTRY);
      },
    },
  };
}

export default defineConfig(({ mode }) => ({
  plugins: [react(), ...(mode === 'mock' ? [mockEntry()] : [])],
  // Relative asset paths: the same build works from tauri://localhost and from a test server.
  base: './',
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    outDir: mode === 'mock' ? 'dist-mock' : 'dist',
    emptyOutDir: true,
    // WebKitGTK 2.40+ (Debian 12) and Chromium both run ES2021.
    target: 'es2021',
    // Keep every asset a file: nothing needs a data: URL but preview frames and badges.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
}));
