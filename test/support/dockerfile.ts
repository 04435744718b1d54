import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Image {
  /** Every ENV of the file, later ones winning. */
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
}

/**
 * ENV, ENTRYPOINT and CMD of the repository's Dockerfile, for tests that run
 * what the image runs without a Docker engine: instructions on continued
 * lines, exec (JSON) form only, which the Dockerfile keeps to so that Node
 * is PID 1's direct child and hears `docker stop`.
 */
export function readDockerfile(path = fileURLToPath(new URL('../../Dockerfile', import.meta.url))): Image {
  const instructions = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .map((line) => /^\s*(\w+)\s+(.*)$/.exec(line)!)
    .map(([, instruction, rest]) => ({ instruction: instruction!.toUpperCase(), rest: rest!.trim() }));
  const last = (name: string) => instructions.findLast((line) => line.instruction === name)?.rest;
  const execForm = (name: string): string[] => {
    const rest = last(name);
    if (rest === undefined) return [];
    const argv: unknown = JSON.parse(rest);
    if (!Array.isArray(argv) || !argv.every((arg) => typeof arg === 'string'))
      throw new Error(`${name} is not in exec form (a JSON array of strings): ${rest}`);
    return argv;
  };
  const env: Record<string, string> = {};
  for (const { rest } of instructions.filter((line) => line.instruction === 'ENV'))
    for (const [, name, value] of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[name!] = value!.replace(/^"|"$/g, '');
  return { env, entrypoint: execForm('ENTRYPOINT'), cmd: execForm('CMD') };
}
