// npm's `prepare` hook (npm install / npm ci): builds the dashboard. A production install without dev
// dependencies has no Vite: it skips the build rather than failing the install, and the server then
// answers GET / with a note to run `npm run build:dashboard`.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

try {
  createRequire(import.meta.url).resolve('vite');
} catch {
  console.warn('stockhold: vite is not installed (npm install --omit=dev?), so the dashboard is not built');
  process.exit(0);
}
const build = spawnSync('npm', ['run', 'build:dashboard'], { stdio: 'inherit' });
process.exit(build.status ?? 1);
