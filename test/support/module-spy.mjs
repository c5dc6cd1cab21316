// Loaded with `node --import`: appends to $KJL_MODULE_SPY every import of @kubernetes/client-node
// this process resolves, so a test can tell, from outside, whether a process loaded the client.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env.KJL_MODULE_SPY;
registerHooks({
  resolve(specifier, context, next) {
    if (file && specifier.startsWith('@kubernetes/client-node')) appendFileSync(file, `${specifier}\n`);
    return next(specifier, context);
  },
});
