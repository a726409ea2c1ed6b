#!/usr/bin/env node
import { main } from '../dist/cli/index.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Stopped by SIGINT/SIGTERM (130/143): what synup had to finish is finished; a read it abandoned (a changelog URL that
// does not answer) must not keep it alive. Output gets a second to drain, then synup exits.
if (code === 130 || code === 143) setTimeout(() => process.exit(code), 1000).unref();
