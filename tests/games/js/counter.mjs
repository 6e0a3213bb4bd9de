// The counter test game in Node: node tests/games/js/counter.mjs (launched by vecbridge).
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
// the installed client (vecbridge sets VECBRIDGE_LAUNCHERS), else the one in this checkout
const launchers = process.env.VECBRIDGE_LAUNCHERS || new URL('../../../launchers', import.meta.url).pathname;
const vecbridge = require(path.join(launchers, 'js', 'vecbridge.js'));
const CounterGame = require('./counter_game.js');

vecbridge.serve(CounterGame); // a class: constructed with the game config
