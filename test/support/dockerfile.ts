import { readFileSync } from 'node:fs';

/** One instruction of a Dockerfile: `COPY --from=build /src/dist ./dist` → COPY, its arguments. */
export interface Instruction {
  instruction: string;
  /** the rest of the line (continuations joined), as written */
  args: string;
}

/** A build stage: its `FROM` line and its instructions. */
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Parses a Dockerfile into its stages (comments dropped, `\` continuations joined). */
export function parseDockerfile(file: string): Stage[] {
  const lines = readFileSync(file, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, instruction, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (!instruction || args === undefined) throw new Error(`cannot read Dockerfile line: ${line}`);
    if (instruction.toUpperCase() === 'FROM') {
      const [from, as, name] = args.split(/\s+/);
      stages.push({ from: from!, ...(as?.toUpperCase() === 'AS' && name ? { name } : {}), instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${instruction} before FROM`);
      stage.instructions.push({ instruction: instruction.toUpperCase(), args: args.replace(/\s+/g, ' ') });
    }
  }
  return stages;
}

/** An exec-form argument list (`["node", "x"]`), as JSON. */
export function execForm(args: string): string[] {
  return JSON.parse(args) as string[];
}

/** `ENV A=1 B=2`: the variables it sets (values without quotes). */
export function envOf(args: string): Record<string, string> {
  return Object.fromEntries(
    [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)].map(([, name, value]) => [
      name!,
      value!.replace(/^"|"$/g, ''),
    ]),
  );
}
