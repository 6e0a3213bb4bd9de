// A test game for every dtype and space kind: its observation space is its action space,
// and step(action) sends the action back as the observation (so the test checks both
// directions of every dtype). reset() builds its observation from plain JS numbers.
//   node tests/games/js/echo.mjs   (config {"int64": "number"} switches BigInt64Array to Float64Array)
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const launchers = process.env.VECBRIDGE_LAUNCHERS || new URL('../../../launchers', import.meta.url).pathname;
const vecbridge = require(path.join(launchers, 'js', 'vecbridge.js'));

const config = vecbridge.gameConfig();

const SPACE = {
  type: 'Dict',
  spaces: {
    f16: { type: 'Box', low: -10, high: 10, shape: [3], dtype: 'float16' },
    f32: { type: 'Box', low: -1, high: 1, shape: [2, 3], dtype: 'float32' },
    f64: { type: 'Box', low: -1e9, high: 1e9, shape: [2], dtype: 'float64' },
    scalar: { type: 'Box', low: -1, high: 1, shape: [], dtype: 'float64' },
    i8: { type: 'Box', low: -128, high: 127, shape: [4], dtype: 'int8' },
    u8: { type: 'Box', low: 0, high: 255, shape: [2, 2], dtype: 'uint8' },
    i16: { type: 'Box', low: -30000, high: 30000, shape: [2], dtype: 'int16' },
    u16: { type: 'Box', low: 0, high: 60000, shape: [2], dtype: 'uint16' },
    i32: { type: 'Box', low: -2e9, high: 2e9, shape: [2], dtype: 'int32' },
    u32: { type: 'Box', low: 0, high: 4e9, shape: [2], dtype: 'uint32' },
    i64: { type: 'Box', low: -1e15, high: 1e15, shape: [3], dtype: 'int64' },
    u64: { type: 'Box', low: 0, high: 1e15, shape: [2], dtype: 'uint64' },
    b: { type: 'Box', low: 0, high: 1, shape: [5], dtype: 'bool' },
    d: 'int -2 2',
    md: { type: 'MultiDiscrete', nvec: [[2, 3], [4, 5]] },
    mb: { type: 'MultiBinary', n: [2, 3] },
    t: { type: 'Tuple', spaces: ['bool', 'float -1 1'] },
    ts: ['int 0 3', 'bool'],
  },
};

class Echo {
  observationSpace = SPACE;
  actionSpace = SPACE;
  name = 'echo';

  reset(seed) {
    const k = seed ?? 0;
    const observation = {
      f16: [0.5, -2.25, k],
      f32: [[0.25, -0.5, 0.125], [k / 4, 0, -1]],
      f64: [Math.PI, -k * 1e6],
      scalar: -0.75,
      i8: [-128, 127, k, -1],
      u8: [[0, 255], [k, 7]],
      i16: [-30000, 30000],
      u16: [0, 60000],
      i32: [-2e9, 2e9],
      u32: [0, 4e9],
      i64: [-1e15, 1e15, k], // plain numbers into an int64 array
      u64: [0n, 10n ** 15n], // bigints into a uint64 array
      b: [true, false, 1, 0, k > 0],
      d: -2,
      md: [[1, 2], [3, k % 5]],
      mb: [[1, 0, 1], [0, 1, 0]],
      t: [1, 0.5],
      ts: [3, 1],
    };
    return [observation, { seed: k }];
  }

  step(action) {
    return [action, 0, false, false, { i64_type: typeof action.i64[0], ts_type: typeof action.ts[0], echo_i64: action.i64 }];
  }

  echo(value) { return value; }
  shapeOf(value) { return value.shape ?? null; }
  grid(h, w) { return vecbridge.ndarray(Array.from({ length: h * w }, (_, i) => i - 3), [h, w], 'int16'); }
}

vecbridge.serve(new Echo(), { int64: config.int64 });
