// A fake AHA query for the deployment tests (aha.command's adapter boundary): `node aha-list.js <telepath url> <view.json>`
// prints view.json (AHA's getAhaSvcs() entries, as the real query prints them) on one line; refuses a missing URL.
import { readFileSync } from 'node:fs';
import { fail } from './lib.js';

const [url, view] = process.argv.slice(2);
if (!/^(cell|ssl|tcp|aha|unix):\/\//.test(url ?? '')) fail(`fake AHA: no telepath URL (got ${JSON.stringify(url)})`, 2);
process.stdout.write(JSON.stringify(JSON.parse(readFileSync(view, 'utf8'))) + '\n');
