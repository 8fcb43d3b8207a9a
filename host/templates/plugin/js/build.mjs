// Builds this agent into a WebAssembly component with componentize-js.
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';

const { component } = await componentize({
  sourcePath: 'agent.js',
  witPath: 'wit',
  worldName: '{{role}}',
  // Agents get no network: without these the component would import wasi:http.
  disableFeatures: ['http', 'fetch-event'],
});
await mkdir('target', { recursive: true });
await writeFile('target/{{crate}}.wasm', component);
