// The main process of a warm sandbox (`/usr/local/lib/blink/warm.mjs` in the image).
//
// A warm sandbox waits for a project it does not know yet. Starting Node and loading Vite and
// its plugins takes most of a fresh dev server's start, and pre-bundling the dependencies takes
// the rest, so this process does all of that ahead: it runs one dev server over the template
// (dependencies pre-bundled into the project directory's cache, every plugin's code compiled),
// closes it, and waits. The host writes `/app/.blink/start.json` ({ env, port }) once the
// project's files are in place, and the project's dev server starts in this same process.
//
// Both servers pass the same pre-bundle list (every package of the image's template), so the
// project's server finds the cache the warm-up left and bundles nothing on its first request.
import fs from 'node:fs'

const start = '/app/.blink/start.json'
const warmed = '/app/.blink/warmed'
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const vite = await import('/node_modules/vite/dist/node/index.js')

const template = JSON.parse(fs.readFileSync('/template/package.json', 'utf8'))
const include = Object.keys(template.dependencies ?? {}).flatMap((name) =>
  name === 'react'
    ? ['react', 'react/jsx-runtime', 'react/jsx-dev-runtime']
    : name === 'react-dom'
      ? ['react-dom', 'react-dom/client']
      : [name],
)

const options = (host, port) => ({
  configLoader: 'runner',
  server: { host, port, strictPort: port !== 0 },
  optimizeDeps: { include },
})

async function warmUp() {
  const server = await vite.createServer(options('127.0.0.1', 0))
  await server.listen()
  const { port } = server.httpServer.address()
  const base = `http://127.0.0.1:${port}${server.config.base}`
  for (const path of ['', 'src/main.tsx', 'src/App.tsx', 'src/index.css', '@vite/client', '@react-refresh']) {
    await (await fetch(base + path)).arrayBuffer()
  }
  // The pre-bundle is written once the optimizer is done: the project's server must find it whole.
  const metadata = `${server.config.cacheDir}/deps/_metadata.json`
  for (let i = 0; i < 3000 && !fs.existsSync(metadata); i++) await sleep(10)
  await server.close()
}

// A sandbox restarted after its project claimed it (new packages need a fresh dev server) has
// its start already: nothing to warm up.
if (!fs.existsSync(start)) {
  try {
    await warmUp()
    fs.mkdirSync('/app/.blink', { recursive: true })
    fs.writeFileSync(warmed, '')
  } catch (error) {
    // A warm-up that failed only costs time: the project's server still starts below.
    console.error('[blink] warm-up failed:', error)
  }
}

while (!fs.existsSync(start)) await sleep(5)
const { env, port } = JSON.parse(fs.readFileSync(start, 'utf8'))
Object.assign(process.env, env)
try {
  const server = await vite.createServer(options('0.0.0.0', port))
  await server.listen()
  server.printUrls()
} catch (error) {
  console.error(error)
  process.exit(1)
}
