import { lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let sequence = 0;

/** `..2026_12_02_17_15_22.000000001`: the kubelet's timestamped folder name (unique per write). */
function timestampedName(): string {
  const now = new Date();
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  sequence += 1;
  return (
    `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_` +
    `${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.${pad(sequence, 9)}`
  );
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Writes `files` into `dir` the way the kubelet updates a mounted ConfigMap (its AtomicWriter):
 * a new `..<timestamp>` folder with the files, a `..data_tmp` symlink to it renamed atomically
 * over `..data`, user-visible `<name>` symlinks into `..data/` for new keys (and removed for keys
 * that went), then the old timestamped folder removed. The first call lays the volume out.
 */
export async function writeConfigMapVolume(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const dataLink = join(dir, '..data');
  const previous = (await exists(dataLink)) ? await readlink(dataLink) : undefined;
  const version = timestampedName();
  await mkdir(join(dir, version));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, version, name), text);
  const tmpLink = join(dir, '..data_tmp');
  await symlink(version, tmpLink);
  await rename(tmpLink, dataLink);
  for (const name of Object.keys(files)) {
    if (!(await exists(join(dir, name)))) await symlink(join('..data', name), join(dir, name));
  }
  if (previous) {
    for (const name of await readdir(join(dir, previous))) {
      if (!(name in files)) await unlink(join(dir, name)).catch(() => {});
    }
    await rm(join(dir, previous), { recursive: true, force: true });
  }
}
