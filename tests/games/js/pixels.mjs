// Test game: an H x W image observation sent in a pixel format (game option `format`), so that
// vecbridge converts it to RGB: the same rules as tests/games/lua/pixels.lua. Pixel (y, x) at
// step t is RGB ((y*7 + x*3 + t) % 256, (y*5 + x*11 + 2t) % 256, (x*y + t) % 256); the fourth
// byte of the 4-byte formats is (x + y) % 256. "rgbx" is sent as a Uint32Array of 0x??BBGGRR
// words (as jsnes keeps its screen), the others as Uint8Arrays; "png": the bytes of the file at
// option `png`. Action Discrete(2): t grows by action + 1; terminated when t >= 10.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const launchers = process.env.VECBRIDGE_LAUNCHERS || new URL('../../../launchers', import.meta.url).pathname;
const vecbridge = require(path.join(launchers, 'js', 'vecbridge.js'));

const config = vecbridge.gameConfig();
const H = config.h || 3, W = config.w || 5, format = config.format || 'rgbx';
const png = format === 'png' ? new Uint8Array(fs.readFileSync(config.png)) : null;

function wire(t) {
  if (format === 'png') return png;
  const words = new Uint32Array(H * W), bytes = new Uint8Array(H * W * (format === 'rgb' ? 3 : 4));
  let n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const r = (y * 7 + x * 3 + t) % 256, g = (y * 5 + x * 11 + 2 * t) % 256, b = (x * y + t) % 256, k = (x + y) % 256;
      words[y * W + x] = (r | (g << 8) | (b << 16) | (k << 24)) >>> 0;
      const px = { rgb: [r, g, b], bgrx: [b, g, r, k], xrgb: [k, r, g, b], rgbx: [r, g, b, k] }[format];
      for (const v of px) bytes[n++] = v;
    }
  }
  return format === 'rgbx' ? words : bytes;
}

class Pixels {
  name = 'pixels';
  observationSpace = { type: 'Box', low: 0, high: 255, shape: [H, W, 3], dtype: 'uint8', pixel_format: format };
  actionSpace = 'bool';
  t = 0;
  reset() { this.t = 0; return { observation: wire(0), info: {} }; }
  step(action) {
    this.t += action + 1;
    return { observation: wire(this.t), reward: 1, terminated: this.t >= 10, truncated: false, info: { t: this.t } };
  }
  render() { return { data: wire(this.t), height: H, width: W, pixel_format: format }; }
  short() { this.nextShort = true; }
}

const game = new Pixels();
const step = game.step.bind(game);
game.step = (action) => {
  if (game.nextShort) return { observation: new Uint8Array(7), reward: 0, terminated: false, truncated: false, info: {} };
  return step(action);
};
vecbridge.serve(game);
