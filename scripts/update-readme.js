// Rewrites the README's configuration table from the settings (run `npm run docs`).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigTable } from '../dist/config/docs.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const start = '<!-- config-table:start -->';
const end = '<!-- config-table:end -->';
const from = readme.indexOf(start);
const to = readme.indexOf(end);
if (from < 0 || to < from) throw new Error(`README.md lacks ${start} … ${end}`);
writeFileSync(file, `${readme.slice(0, from + start.length)}\n${renderConfigTable()}\n${readme.slice(to)}`);
console.log('README.md configuration table updated');
