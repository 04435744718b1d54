import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

export interface FolderWatch {
  close(): void;
}

export interface WatchFolderOptions {
  /** Which paths, relative to the folder, matter; a subfolder left out is not watched. */
  include(path: string): boolean;
  /** A path that matters changed; null when the platform did not say which. */
  onChange(path: string | null): void;
  /** The folder itself can no longer be watched. */
  onError(error: Error): void;
}

/**
 * Watches a folder and its included subfolders, one non-recursive watcher
 * per folder. Node's recursive watch on Linux (through Node 20 at least)
 * watches each file by inode, and so loses a file for good once an editor
 * saves it the safe way, by renaming a new file over it. A folder's own
 * watcher names every file that comes, goes or changes in it.
 */
export async function watchFolder(
  root: string,
  { include, onChange, onError }: WatchFolderOptions,
): Promise<FolderWatch> {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;

  const watchOne = (dir: string) => {
    // A folder deleted and created again needs a new watcher: the old one watched the deleted folder.
    watchers.get(dir)?.close();
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, filename) => {
        if (filename === null) return onChange(null);
        const path = relative(root, join(dir, filename));
        if (!include(path)) return;
        onChange(path);
        // A folder that appeared has folders and files of its own to watch.
        void stat(join(root, path)).then(
          (stats) => (stats.isDirectory() ? watchTree(join(root, path)) : undefined),
          () => {},
        );
      });
    } catch (error) {
      // A subfolder may be gone already; the folder itself must be there.
      if (dir === root) onError(error as Error);
      return;
    }
    watcher.on('error', (error) => {
      watcher.close();
      if (watchers.get(dir) === watcher) watchers.delete(dir);
      if (dir === root) onError(error);
    });
    watchers.set(dir, watcher);
  };

  const watchTree = async (dir: string): Promise<void> => {
    if (closed) return;
    watchOne(dir);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    await Promise.all(
      entries
        .filter((entry) => entry.isDirectory() && include(relative(root, join(dir, entry.name))))
        .map((entry) => watchTree(join(dir, entry.name))),
    );
  };

  await watchTree(root);
  return {
    close() {
      closed = true;
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
