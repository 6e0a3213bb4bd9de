/* An adapter written from docs/backends/browser.md for walker.html: a Dict observation, game options
 * from vecbridgeBrowser.config, a seeded Math.random, and an error thrown at a known line. */
(function (root) {
  'use strict';
  var B = root.vecbridgeBrowser;
  if (!B || !B.isTop) return;
  var rng = B.seededRandom();
  var maxGoal = B.config.max_goal || 3;            // vecbridge.make(spec, max_goal=5) -> B.config.max_goal

  function observe(w) {
    return { position: new Int32Array([w.position]), goal: new Int32Array([w.goal]) };
  }

  var adapter = {
    observationSpace: { type: 'Dict', spaces: {
      position: { type: 'Box', low: -100, high: 100, shape: [1], dtype: 'int32' },
      goal: { type: 'Box', low: -100, high: 100, shape: [1], dtype: 'int32' } } },
    actionSpace: { type: 'Discrete', n: 2 },        // 0: left, 1: right
    name: 'walker',
    reset: function (seed, options) {
      if (options && options.fail) throw new Error('the walker refuses to start');  // line 21
      if (seed !== null) rng.seed(seed);
      root.walker.start(1 + Math.floor(Math.random() * maxGoal));
      return { observation: observe(root.walker), info: {} };
    },
    step: function (action) {
      var arrived = root.walker.move(action === 1 ? 1 : -1);
      return { observation: observe(root.walker), reward: arrived ? 1 : 0, terminated: arrived,
               truncated: false, info: {} };
    }
  };
  root.addEventListener('DOMContentLoaded', function () { B.serve(adapter); });
})(globalThis);
