// Builds the admin console (npm run build:console) into dist/console, which src/admin/console-assets.ts
// serves at /admin. Preact's JSX through Vite's own transform (no plugin needed).
import path from 'node:path'
import { defineConfig } from 'vite'

const root = import.meta.dirname

export default defineConfig({
  root,
  base: '/admin/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: path.resolve(root, '../../../dist/console'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // No inline polyfill script: the page's CSP allows nonce'd scripts only.
    modulePreload: { polyfill: false },
    // No inline data: URLs for assets either (img-src allows data:, but keep it simple).
    assetsInlineLimit: 0,
  },
})
