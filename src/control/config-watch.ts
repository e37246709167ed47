// `watch = true`: reload when the config file changes. The folder is watched, not the file, because
// editors often save by writing a new file and renaming it over the old one.
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";

/** Bursts of events (one save is often several) collapse into one reload. */
const SETTLE_MS = 250;

export function watchConfig(path: string, onChange: () => void): FSWatcher {
  const name = basename(path);
  let timer: ReturnType<typeof setTimeout> | null = null;
  const watcher = watch(dirname(path), (_event, file) => {
    if (file !== null && file !== name) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, SETTLE_MS);
  });
  watcher.unref();
  return watcher;
}
