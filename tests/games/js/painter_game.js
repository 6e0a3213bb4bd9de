/*
 * An image test game with a Dict action, shared by painter.mjs (Node) and painter.html
 * (browser, where it paints on a real <canvas> and observes it through getImageData).
 *
 * A cursor moves on a WIDTH x HEIGHT RGB image and paints the pixel under it.
 * Action (Dict): move 0 stay / 1 up / 2 right / 3 down / 4 left, color (MultiDiscrete 3 x 256,
 * a BigInt64Array), paint (0/1), strength (float32 scalar Box in [0, 1]).
 * Observation: the image, uint8 [HEIGHT, WIDTH, 3]. Reward: 1 when it paints.
 * tests/test_client_js.py recomputes everything.
 */
(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.PainterGame = factory();
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

  var WIDTH = 8;
  var HEIGHT = 6;
  var MOVES = [[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]];

  // A surface: an RGB byte array (Node) or a 2D canvas (browser)
  function ArraySurface() {
    this.rgb = new Uint8Array(HEIGHT * WIDTH * 3);
  }
  ArraySurface.prototype.clear = function () { this.rgb.fill(0); };
  ArraySurface.prototype.paint = function (x, y, r, g, b) {
    var i = (y * WIDTH + x) * 3;
    this.rgb[i] = r; this.rgb[i + 1] = g; this.rgb[i + 2] = b;
  };
  ArraySurface.prototype.image = function () { return this.rgb; };

  function CanvasSurface(document) {
    var canvas = document.createElement('canvas');
    canvas.width = WIDTH;
    canvas.height = HEIGHT;
    document.body.appendChild(canvas);
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
  }
  CanvasSurface.prototype.clear = function () {
    this.ctx.fillStyle = 'rgb(0, 0, 0)';
    this.ctx.fillRect(0, 0, WIDTH, HEIGHT);
  };
  CanvasSurface.prototype.paint = function (x, y, r, g, b) {
    this.ctx.fillStyle = 'rgb(' + r + ', ' + g + ', ' + b + ')';
    this.ctx.fillRect(x, y, 1, 1);
  };
  // ImageData: RGBA; the client drops the alpha channel for a [H, W, 3] observation
  CanvasSurface.prototype.image = function () { return this.ctx.getImageData(0, 0, WIDTH, HEIGHT); };

  function nextFrame() {
    if (typeof requestAnimationFrame === 'function') return new Promise(function (r) { requestAnimationFrame(function () { r(); }); });
    return new Promise(function (r) { setImmediate(r); });
  }

  class PainterGame {
    constructor(config, document) {
      config = config || {};
      this.observationSpace = { type: 'Box', low: 0, high: 255, shape: [HEIGHT, WIDTH, 3], dtype: 'uint8' };
      this.actionSpace = {
        type: 'Dict',
        spaces: {
          move: 'int 0 4',
          color: ['int 0 255', 'int 0 255', 'int 0 255'],
          paint: 'bool',
          strength: { type: 'Box', low: 0, high: 1, shape: [], dtype: 'float32' }
        }
      };
      this.name = 'painter';
      this.metadata = { render_modes: ['rgb_array'], render_fps: 15 };
      this.maxSteps = config.max_steps === undefined ? 50 : config.max_steps;
      this.surface = document ? new CanvasSurface(document) : new ArraySurface();
      this.x = 0;
      this.y = 0;
      this.t = 0;
    }

    // async: a browser game waits for the next animation frame
    async reset(seed, options) {
      this.surface.clear();
      this.x = options && options.x !== undefined ? options.x : 0;
      this.y = options && options.y !== undefined ? options.y : 0;
      this.t = 0;
      await nextFrame();
      return [this.surface.image(), { cursor: new Int32Array([this.x, this.y]) }];
    }

    step(action) {
      var d = MOVES[action.move];
      this.x = Math.max(0, Math.min(WIDTH - 1, this.x + d[0]));
      this.y = Math.max(0, Math.min(HEIGHT - 1, this.y + d[1]));
      this.t += 1;
      var s = action.strength[0];
      if (action.paint) {
        this.surface.paint(this.x, this.y,
          Math.floor(Number(action.color[0]) * s), Math.floor(Number(action.color[1]) * s), Math.floor(Number(action.color[2]) * s));
      }
      return {
        observation: this.surface.image(),
        reward: action.paint ? 1 : 0,
        terminated: false,
        truncated: this.t >= this.maxSteps,
        info: { cursor: new Int32Array([this.x, this.y]), color_is_bigint: typeof action.color[0] === 'bigint' }
      };
    }

    render() {
      var image = this.surface.image();
      return image.data ? image : { data: image, height: HEIGHT, width: WIDTH }; // ImageData has data, width, height
    }
  }

  return PainterGame;
});
