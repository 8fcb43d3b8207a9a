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
//   BLINK_SYNC_TOKEN       the secret the host sends with POST /__blink/sync (unset: no sync)
//
// With no HMR variables set, the HMR WebSocket goes to the same origin as the
// page, at the base path: ws(s)://<page host>/<base>?token=… (protocol
// "vite-hmr"), so a reverse proxy that forwards <base> (HTTP and Upgrade) to
// the container carries HMR too.
import { statSync } from 'node:fs'
import path from 'node:path'
import { defineConfig, searchForWorkspaceRoot, type Plugin } from 'vite'
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

// The host says which files it changed and waits for the answer, so what it wrote is what the
// dev server serves next. A file watcher alone loses changes: chokidar drops a second change to a
// file within 50 ms and re-arms its watch after each atomic replace, and gVisor delivers no
// inotify event for a write made outside the sandbox. The path is outside the base, which the
// host's proxy never forwards to, and the token is this sandbox's own.
function blinkSync(): Plugin {
  const token = env.BLINK_SYNC_TOKEN
  return {
    name: 'blink-sync',
    configureServer(server) {
      // One HMR update per version of a file, whichever of the watcher and the host tells first:
      // a version is its inode, size and mtime, and one already passed on is not passed again.
      const passed = new Map<string, string>()
      const version = (file: string) => {
        try {
          const stats = statSync(file)
          return `${stats.ino}:${stats.size}:${stats.mtimeMs}`
        } catch {
          return 'gone'
        }
      }
      const emit = server.watcher.emit.bind(server.watcher)
      server.watcher.emit = ((event: string, file: unknown, ...rest: unknown[]) => {
        if (event === 'change' && typeof file === 'string') {
          const now = version(file)
          if (passed.get(file) === now) return true
          passed.set(file, now)
        }
        return emit(event, file, ...rest)
      }) as typeof server.watcher.emit
      server.middlewares.use('/__blink/sync', (req, res) => {
        if (!token || req.method !== 'POST' || req.headers['x-blink-sync'] !== token) {
          res.statusCode = 403
          res.end()
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        req.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > 1 << 20) req.destroy()
          else chunks.push(chunk)
        })
        req.on('end', () => {
          let body: { changed?: unknown; removed?: unknown }
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            res.statusCode = 400
            res.end()
            return
          }
          const inProject = (list: unknown) =>
            (Array.isArray(list) ? list : [])
              .filter((file): file is string => typeof file === 'string')
              .map((file) => path.resolve(root, file))
              .filter((file) => file.startsWith(root + path.sep))
          for (const file of inProject(body.changed)) {
            // Forget the old transform now, before answering: Vite's change handler does it too,
            // but only after awaits, and the host's next request may come first.
            for (const environment of Object.values(server.environments)) {
              environment.moduleGraph.onFileChange(file)
            }
            server.watcher.emit('change', file)
          }
          for (const file of inProject(body.removed)) server.watcher.emit('unlink', file)
          res.statusCode = 204
          res.end()
        })
      })
    },
  }
}

export default defineConfig({
  base: normalizeBase(env.BLINK_BASE),
  cacheDir: env.BLINK_CACHE_DIR || path.resolve(root, 'node_modules/.vite'),
  plugins: [react(), tailwindcss(), blinkSync()],
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
