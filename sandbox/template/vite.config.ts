// Vite config of the Blink sandbox template.
//
// Everything that depends on where the app is served from comes from the
// environment, so one image serves every project:
//   BLINK_BASE             public base path, e.g. "/preview/<projectId>/" (default "/")
//   BLINK_HMR_CLIENT_PORT  port the *browser* uses for the HMR WebSocket (e.g. 443
//                          behind a TLS proxy); default: the page's own port
//   BLINK_HMR_PROTOCOL     "ws" or "wss"; default: derived from the page's protocol
//   BLINK_HMR_HOST         host name the browser uses for the HMR WebSocket;
//                          default: the page's own host
//   BLINK_CACHE_DIR        Vite's cache (pre-bundled deps); default
//                          <project>/node_modules/.vite (writable project dir)
//   BLINK_WATCH_POLL       "1" to poll for file changes instead of inotify
//   BLINK_NODE_MODULES     read-only node_modules of the image (default /node_modules)
//
// With no HMR variables set, the HMR WebSocket goes to the same origin as the
// page, at the base path: ws(s)://<page host>/<base>?token=… (protocol
// "vite-hmr"), so a reverse proxy that forwards <base> (HTTP and Upgrade) to
// the container carries HMR too.
import path from 'node:path'
import { defineConfig, searchForWorkspaceRoot } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

const env = process.env

function normalizeBase(raw: string | undefined): string {
  let base = (raw ?? '').trim()
  if (base === '' || base === '.' || base === './') return '/'
  if (!base.startsWith('/')) base = `/${base}`
  if (!base.endsWith('/')) base = `${base}/`
  return base
}

function optionalPort(raw: string | undefined): number | undefined {
  const port = Number(raw)
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined
}

const root = process.cwd()
const imageNodeModules = env.BLINK_NODE_MODULES || '/node_modules'

export default defineConfig({
  base: normalizeBase(env.BLINK_BASE),
  cacheDir: env.BLINK_CACHE_DIR || path.resolve(root, 'node_modules/.vite'),
  plugins: [react(), tailwindcss()],
  // Every source file is an ES module, as each file is a module script in the frontend's
  // in-browser preview. A file without import or export (how `browser`-target files are written)
  // would otherwise be taken for CommonJS, and its JSX compiled to a `require()` no browser has.
  oxc: { sourceType: 'module' },
  resolve: {
    alias: { '@': path.resolve(root, 'src') },
  },
  server: {
    host: '0.0.0.0',
    port: 5173,
    strictPort: true,
    // The sandbox is only reachable through the host's reverse proxy, which may
    // forward any Host header (preview-<id>.example.com, the container IP, …).
    allowedHosts: true,
    ws: {
      clientPort: optionalPort(env.BLINK_HMR_CLIENT_PORT),
      protocol: env.BLINK_HMR_PROTOCOL || undefined,
      host: env.BLINK_HMR_HOST || undefined,
    },
    fs: {
      // The project plus the image's shared node_modules (outside the project).
      allow: [searchForWorkspaceRoot(root), imageNodeModules],
    },
    watch: env.BLINK_WATCH_POLL === '1' ? { usePolling: true, interval: 100 } : undefined,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
})
