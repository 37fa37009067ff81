// Builds the dashboard (index.html) and a drop's waiting page (drop.html), with their web/*.ts, into
// dist/dashboard, which src/dashboard/serve.ts serves.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // Everything the page needs is bundled: no network access at run time.
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../dist/dashboard/', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // No inline scripts or polyfills: the page runs under a strict Content-Security-Policy.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 300,
    // Two pages: the operator's dashboard, and the waiting page of a drop its customers open.
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL('index.html', import.meta.url)),
        drop: fileURLToPath(new URL('drop.html', import.meta.url)),
      },
    },
  },
});
