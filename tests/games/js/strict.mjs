// Test game: a uint8 [4, 4, 3] image and an int32 [2] vector (a Dict), whose step sends what
// game option `bad` names, each a mistake a JavaScript author makes:
//   "float": a Float32Array of 300.7 for the uint8 image (a Uint8Array would hold 44)
//   "array": a plain Array with one 256 in the uint8 image
//   "fraction": 1.5 in the int32 vector
//   "imagedata": an ImageData of 8 x 2 pixels where 4 x 4 are declared (the same byte count)
//   "good": what fits: an ImageData of 4 x 4, int32 from a Float64Array of whole numbers
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const launchers = process.env.VECBRIDGE_LAUNCHERS || new URL('../../../launchers', import.meta.url).pathname;
const vecbridge = require(path.join(launchers, 'js', 'vecbridge.js'));

const bad = vecbridge.gameConfig().bad || 'good';

function rgba(w, h) {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < data.length; i += 4) { data[i] = 10; data[i + 1] = 20; data[i + 2] = 30; data[i + 3] = 255; }
  return { data, width: w, height: h };
}

function observation() {
  if (bad === 'float') return { img: new Float32Array(48).fill(300.7), n: [1, 2] };
  if (bad === 'array') { const a = new Array(48).fill(7); a[5] = 256; return { img: a, n: [1, 2] }; }
  if (bad === 'fraction') return { img: new Uint8Array(48), n: [1, 1.5] };
  if (bad === 'imagedata') return { img: rgba(8, 2), n: [1, 2] };
  return { img: rgba(4, 4), n: new Float64Array([-5, 2147483647]) };
}

vecbridge.serve({
  name: 'strict',
  observationSpace: { type: 'Dict', spaces: {
    img: { type: 'Box', low: 0, high: 255, shape: [4, 4, 3], dtype: 'uint8' },
    n: { type: 'Box', low: -2147483648, high: 2147483647, shape: [2], dtype: 'int32' } } },
  actionSpace: 'bool',
  reset() { return { observation: { img: new Uint8Array(48), n: [0, 0] }, info: {} }; },
  step() { return { observation: observation(), reward: 0, terminated: false, truncated: false, info: {} }; },
});
