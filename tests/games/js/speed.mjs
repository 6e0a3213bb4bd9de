// A game whose infos carry a number per instance: config.speeds[instance] (default [1.0, 2.5]).
// JavaScript has one number type, so JSON writes a speed of 1.0 as 1 (an integer on the wire)
// and 2.5 as 2.5: the vector env must merge them into a float array, not truncate 2.5.
//   node tests/games/js/speed.mjs   (launched by vecbridge)
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const launchers = process.env.VECBRIDGE_LAUNCHERS || new URL('../../../launchers', import.meta.url).pathname;
const vecbridge = require(path.join(launchers, 'js', 'vecbridge.js'));

class Speed {
  constructor(config) {
    const speeds = (config && config.speeds) || [1.0, 2.5];
    this.speed = speeds[Number(process.env.VECBRIDGE_INSTANCE) % speeds.length];
    this.observationSpace = { type: 'Box', low: 0, high: 1000, shape: [1], dtype: 'float32' };
    this.actionSpace = 'int 0 1';
    this.name = 'speed';
    this.t = 0;
  }

  reset() {
    this.t = 0;
    return { observation: [0], info: { speed: this.speed } };
  }

  step() {
    this.t += 1;
    return [[this.t], 0, false, false, { speed: this.speed, final: { speed: this.speed } }];
  }
}

vecbridge.serve(Speed);
