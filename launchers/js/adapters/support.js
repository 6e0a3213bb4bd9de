/*
 * vecbridge browser adapter support (injected by vecbridge's browser launcher).
 *
 * The launcher (vecbridge/backends/instance/browser_launcher.py) injects, with DevTools
 * Page.addScriptToEvaluateOnNewDocument, so that they run in every new document before
 * any of the page's own scripts:
 *
 *   1. launchers/js/vecbridge.js            -> globalThis.vecbridge (the game client)
 *   2. globalThis.__vecbridgeLaunch = {...}  connection parameters, game config, binding name
 *   3. this file                             -> globalThis.vecbridgeBrowser (helpers below)
 *   4. the game adapter script(s)            e.g. adapters/2048.js
 *
 * vecbridgeBrowser:
 *   isTop                 true in the top-level frame (adapters serve only there)
 *   config                the game options (vecbridge.make(id, **options))
 *   serve(game, opts)     vecbridge.serve(game) with the launcher's connection parameters;
 *                         only once per document, only in the top frame; when the session
 *                         ends (vecbridge sent close, or the connection broke) the launcher
 *                         closes the browser (opts.exit = false: it does not)
 *   seededRandom()        replaces Math.random with a seeded generator (sfc32); returns it:
 *                         .seed(n) reseeds (n: integer below 2**53), .next() is Math.random
 *   disableAnimations()   a style sheet that makes CSS animations and transitions instant
 *                         (their end state shows at once), so screenshots are never mid-way
 *   screenshot(clip)      Promise of {data (RGBA bytes), width, height}: the page's pixels,
 *                         captured by the launcher with Page.captureScreenshot (PNG), decoded
 *                         here; clip = {x, y, width, height} in CSS pixels, or null for the
 *                         whole viewport. A render() can return it as is.
 *   rect(selectors...)    the union of the elements' bounding boxes, for a clip
 */
(function (root) {
  'use strict';
  if (root.vecbridgeBrowser) return;

  var launch = root.__vecbridgeLaunch || {};
  var served = false;

  // ---------------------------------------------------------------- seeded Math.random

  /** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), 32-bit state words. */
  function SeededRandom() {
    this.a = this.b = this.c = this.d = 0;
    var init = new Uint32Array(2);
    if (root.crypto && root.crypto.getRandomValues) root.crypto.getRandomValues(init);
    else { init[0] = Date.now() >>> 0; init[1] = (performance.now() * 1000) >>> 0; }
    this._seedWords(init[0], init[1]);
  }
  SeededRandom.prototype._seedWords = function (lo, hi) {
    this.a = 0x9e3779b9; this.b = lo >>> 0; this.c = hi >>> 0; this.d = 1;
    for (var i = 0; i < 15; i++) this.next(); // mix the seed into every state word
  };
  /** Reseed from an integer in [0, 2**53); the same seed gives the same sequence. */
  SeededRandom.prototype.seed = function (n) {
    n = Number(n);
    if (!Number.isFinite(n)) throw new TypeError('seed must be a finite number, got ' + n);
    n = Math.abs(Math.trunc(n));
    this._seedWords(n % 4294967296, Math.floor(n / 4294967296));
  };
  SeededRandom.prototype.next = function () {
    var a = this.a | 0, b = this.b | 0, c = this.c | 0, d = this.d | 0;
    var t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.a = a; this.b = b; this.c = c; this.d = d;
    return (t >>> 0) / 4294967296;
  };

  var rng = null;
  function seededRandom() {
    if (!rng) {
      rng = new SeededRandom();
      var next = rng.next.bind(rng);
      Math.random = function random() { return next(); };
    }
    return rng;
  }

  // ---------------------------------------------------------------- animations off

  var animationsOff = false;
  function disableAnimations() {
    if (animationsOff) return;
    animationsOff = true;
    var css = '*, *::before, *::after { animation-duration: 0s !important; animation-delay: 0s !important; ' +
      'transition-duration: 0s !important; transition-delay: 0s !important; }';
    function add() {
      var style = document.createElement('style');
      style.setAttribute('data-vecbridge', 'animations-off');
      style.textContent = css;
      (document.head || document.documentElement).appendChild(style);
    }
    if (document.documentElement) add();
    else document.addEventListener('readystatechange', add, { once: true });
  }

  // ---------------------------------------------------------------- screenshots

  var pending = {};
  var nextId = 1;

  function decodePng(base64) {
    var bin = atob(base64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var blob = new Blob([bytes], { type: 'image/png' });
    return createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }).then(function (bmp) {
      var canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(bmp.width, bmp.height) : document.createElement('canvas');
      canvas.width = bmp.width; canvas.height = bmp.height;
      var ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bmp, 0, 0);
      var image = ctx.getImageData(0, 0, bmp.width, bmp.height);
      if (bmp.close) bmp.close();
      return { data: image.data, width: image.width, height: image.height };
    });
  }

  function screenshot(clip) {
    var binding = launch.binding && root[launch.binding];
    if (typeof binding !== 'function') {
      return Promise.reject(new Error('vecbridgeBrowser.screenshot: no DevTools binding here (is the page running under vecbridge\'s browser launcher?)'));
    }
    var id = nextId++;
    return new Promise(function (resolve, reject) {
      pending[id] = { resolve: resolve, reject: reject };
      var request = { type: 'screenshot', id: id, clip: null };
      if (clip) {
        request.clip = {
          x: Math.round(clip.x), y: Math.round(clip.y),
          width: Math.round(clip.width), height: Math.round(clip.height), scale: 1
        };
      }
      binding(JSON.stringify(request));
    }).then(decodePng);
  }

  /** Called by the launcher (Runtime.evaluate) with the PNG as base64, or an error message. */
  function captured(id, base64, error) {
    var p = pending[id];
    delete pending[id];
    if (!p) return;
    if (error) p.reject(new Error('screenshot failed: ' + error));
    else p.resolve(base64);
  }

  function rect() {
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (var i = 0; i < arguments.length; i++) {
      var el = typeof arguments[i] === 'string' ? document.querySelector(arguments[i]) : arguments[i];
      if (!el) throw new Error('vecbridgeBrowser.rect: no element ' + arguments[i]);
      var r = el.getBoundingClientRect();
      x0 = Math.min(x0, r.left + root.scrollX); y0 = Math.min(y0, r.top + root.scrollY);
      x1 = Math.max(x1, r.right + root.scrollX); y1 = Math.max(y1, r.bottom + root.scrollY);
    }
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  }

  // ---------------------------------------------------------------- serving

  function serve(game, opts) {
    if (root.top !== root) return Promise.reject(new Error('vecbridgeBrowser.serve: only the top-level frame serves'));
    if (served) return Promise.reject(new Error('vecbridgeBrowser.serve: this document serves already'));
    served = true;
    var params = {
      host: launch.host, port: launch.port, instance: launch.instance, token: launch.token, config: launch.config
    };
    var all = {};
    Object.keys(params).forEach(function (k) { if (params[k] !== undefined) all[k] = params[k]; });
    Object.keys(opts || {}).forEach(function (k) { all[k] = opts[k]; });
    // The page cannot always close its own window (not when it was navigated to from
    // about:blank), so the launcher ends the browser when the session is over.
    var exit = all.exit !== false;
    all.exit = false;
    return root.vecbridge.serve(game, all).then(function (session) {
      if (exit) notify('done');
      return session;
    }, function (err) {
      if (exit) notify('failed', String(err && err.message || err));
      throw err;
    });
  }

  /** Tell the launcher that the vecbridge session ended: it closes the browser. */
  function notify(what, message) {
    var binding = launch.binding && root[launch.binding];
    if (typeof binding === 'function') binding(JSON.stringify({ type: what, message: message || '' }));
    else if (typeof root.close === 'function') root.close();
  }

  root.vecbridgeBrowser = {
    isTop: root.top === root,
    config: launch.config || {},
    launch: launch,
    serve: serve,
    seededRandom: seededRandom,
    SeededRandom: SeededRandom,
    disableAnimations: disableAnimations,
    screenshot: screenshot,
    decodePng: decodePng,
    rect: rect,
    _captured: captured
  };
})(globalThis);
