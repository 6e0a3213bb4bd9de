// The painter test game in Node: node tests/games/js/painter.mjs (launched by vecbridge).
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const launchers = process.env.VECBRIDGE_LAUNCHERS || new URL('../../../launchers', import.meta.url).pathname;
const vecbridge = require(path.join(launchers, 'js', 'vecbridge.js'));
const PainterGame = require('./painter_game.js');

await vecbridge.serve(new PainterGame(vecbridge.gameConfig()));
