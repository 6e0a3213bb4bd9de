/*
 * A small deterministic test game, shared by counter.mjs (Node) and counter.html (browser).
 *
 * A counter starts at a seeded position and the agent moves it left / stays / right
 * (action 0 / 1 / 2) toward a seeded target; the episode terminates on the target and
 * truncates after config.max_steps steps. tests/test_client_js.py recomputes everything.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.CounterGame = factory();
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

  var WIDTH = 12;
  var HEIGHT = 3;

  class CounterGame {
    constructor(config) {
      config = config || {};
      this.observationSpace = { type: 'Box', low: -100, high: 100, shape: [4], dtype: 'float32' };
      this.actionSpace = 'int 0 2'; // Discrete(3)
      this.name = 'counter';
      this.metadata = { render_modes: ['rgb_array'], render_fps: 30 };
      this.maxSteps = config.max_steps === undefined ? 20 : config.max_steps;
      this.label = 'counter';
      this.badObservation = false;
      this.rng = 0;
      this.pos = 0;
      this.target = 0;
      this.t = 0;
      this.obs = new Float32Array(4); // reused: the client copies it into the reply
      this.frame = new Uint8Array(HEIGHT * WIDTH * 3);
    }

    next() { // 32-bit LCG, high 16 bits
      this.rng = (Math.imul(this.rng, 1103515245) + 12345) >>> 0;
      return this.rng >>> 16;
    }

    observe() {
      if (this.badObservation) return [this.pos, this.target, this.t];
      this.obs[0] = this.pos;
      this.obs[1] = this.target;
      this.obs[2] = this.t;
      this.obs[3] = this.pos * 0.1;
      return this.obs;
    }

    reset(seed, options) {
      if (seed !== null && seed !== undefined) this.rng = seed >>> 0;
      this.pos = this.next() % 5;
      this.target = 5 + (this.next() % 6);
      this.t = 0;
      if (options && options.start !== undefined) this.pos = options.start;
      return { observation: this.observe(), info: { distance: this.target - this.pos, seeded: seed !== null } };
    }

    step(action) {
      if (action < 0 || action > 2) throw new RangeError('action ' + action + ' is not 0, 1 or 2');
      this.pos += action - 1;
      this.t += 1;
      var distance = Math.abs(this.target - this.pos);
      var terminated = distance === 0;
      var truncated = !terminated && this.t >= this.maxSteps;
      var reward = terminated ? 10 : -0.5 * distance;
      return [this.observe(), reward, terminated, truncated, { t: this.t, distance: distance, tag: 'counter' }];
    }

    render() {
      var f = this.frame;
      f.fill(0);
      var x = Math.max(0, Math.min(WIDTH - 1, this.pos));
      f[(0 * WIDTH + x) * 3] = 255;
      if (this.target < WIDTH) f[(1 * WIDTH + this.target) * 3 + 1] = 255;
      for (var i = 0; i < Math.min(this.t, WIDTH); i++) f[(2 * WIDTH + i) * 3 + 2] = 255;
      return { data: f, height: HEIGHT, width: WIDTH };
    }

    // methods for call()
    add(a, b) { return a + b; }
    scaled(values, opts) { // a typed array back, and kwargs arrive as a last object argument
      var k = opts && opts.factor !== undefined ? opts.factor : 1;
      return Float32Array.from(values, function (v) { return v * k; });
    }
    state() { return { pos: this.pos, target: this.target, t: this.t }; }
    boom(message) { throw new RangeError(message || 'boom'); }
    async later(value) { await new Promise(function (r) { setTimeout(r, 5); }); return value; }
    pid() { return typeof process === 'object' ? process.pid : null; }
  }

  return CounterGame;
});
