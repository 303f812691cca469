// Removes build output directories given as arguments (so files of deleted sources do not linger).
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = resolve(fileURLToPath(import.meta.url), '..', '..');
for (const dir of process.argv.slice(2)) rmSync(resolve(pkg, dir), { recursive: true, force: true });
