import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * What a scaffold run changes in the repository, with what each file held
 * before, so that a run failing halfway (a tool that errors, a schema that
 * does not compose) puts everything back instead of leaving a half-wired
 * subgraph behind.
 */
export class Changes {
  /** Repository-relative path → content before the run, or `null` for a file the run created. */
  private readonly before = new Map<string, string | null>();
  /** Folders a tool rewrites; `existed: false` ones are removed whole on rollback. */
  private readonly folders: Array<{ path: string; existed: boolean }> = [];

  constructor(private readonly root: string) {}

  read(path: string): string {
    return readFileSync(join(this.root, path), 'utf8');
  }

  write(path: string, content: string): void {
    this.remember(path);
    mkdirSync(dirname(join(this.root, path)), { recursive: true });
    writeFileSync(join(this.root, path), content);
  }

  /** Remembers every file in a folder (or a single file) that a tool is about to write to. */
  watch(folder: string): void {
    const existed = existsSync(join(this.root, folder));
    this.folders.push({ path: folder, existed });
    for (const path of this.filesIn(folder)) this.remember(path);
  }

  /** Files that differ from before the run: `created` were not there, `modified` were. */
  summary(): { created: string[]; modified: string[] } {
    const created: string[] = [];
    const modified: string[] = [];
    const paths = new Set([...this.before.keys(), ...this.folders.flatMap((folder) => this.filesIn(folder.path))]);
    for (const path of paths) {
      const content = this.before.get(path) ?? null;
      if (!existsSync(join(this.root, path))) continue;
      if (content === null) created.push(path);
      else if (this.read(path) !== content) modified.push(path);
    }
    return { created: created.sort(), modified: modified.sort() };
  }

  rollback(): void {
    for (const folder of this.folders) {
      if (!folder.existed) rmSync(join(this.root, folder.path), { recursive: true, force: true });
      else for (const path of this.filesIn(folder.path)) if (!this.before.has(path)) rmSync(join(this.root, path));
    }
    for (const [path, content] of this.before) {
      if (content === null) rmSync(join(this.root, path), { force: true });
      else writeFileSync(join(this.root, path), content);
    }
  }

  private remember(path: string): void {
    if (!this.before.has(path)) this.before.set(path, existsSync(join(this.root, path)) ? this.read(path) : null);
  }

  private filesIn(folder: string): string[] {
    const absolute = join(this.root, folder);
    if (!existsSync(absolute)) return [];
    if (statSync(absolute).isFile()) return [folder];
    return readdirSync(absolute, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => relative(this.root, join(entry.parentPath, entry.name)));
  }
}
