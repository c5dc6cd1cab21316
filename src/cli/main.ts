#!/usr/bin/env node
import { runCli } from './program.js';

// A command is over when runCli returns: nothing it left open (keep-alive sockets, timers) may keep
// the process alive. Long-running commands (`start`, `dev`) end the process themselves.
process.exit(await runCli(process.argv));
