// Escape from Pong (Halley's Comet Software, BSD-3-Clause; Debian package `efp`,
// /usr/share/nes/efp.nes) in jsnes, served to vecbridge over TCP by Node.
//
// The Node twin of the FCEUX game vecbridge/EscapeFromPong-v0: it mirrors
// launchers/lua/processors/escape_from_pong.lua (the processor) and the parts of
// launchers/lua/bizhawk.lua (the runtime) that give it its semantics, rule by rule:
//
//   action       Discrete(9): 0 nothing, 1 Up, 2 Down, 3 Left, 4 Right, 5 Up+Left,
//                6 Up+Right, 7 Down+Left, 8 Down+Right (joypad 1)
//   observation  observation_type "image" (the screen, uint8 [240, 256, 3] RGB),
//                "value" (float32 [8] from RAM), "ram" (uint8 [2048], NES work RAM),
//                "both" (Dict {image, value})
//   reward       +1 when the ball escapes (the level pointer $31/$32 changed in the frame of
//                a restart), -1 when the level restarts without it
//   terminated   after `lives` restarts; truncated after `max_steps` frames (0: never)
//   one step     `frameskip` frames with the same action (stops early at the end)
//   seed         power-on state (one frame after power-on), run to the first live frame of
//                level 1 (kept as a state), then k idle frames, k in 0..noop_max from the
//                same minstd generator as bizhawk.lua (seeded by reset(seed); first seeded
//                with the instance id; reset(options={noops: k}) picks k)
//
// Launched by vecbridge.backends.node (which fetches jsnes with `npm pack` and passes its
// folder in VECBRIDGE_NPM_JSNES); see docs/backends/node.md. When imported instead of run,
// the module only exports the game (benchmarks/node_overhead.py times it without vecbridge).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const DEFAULT_ROM = '/usr/share/nes/efp.nes';
export const ROM_SHA1 = '1dd014ece0763d49710ca3f27d032ae227cd9d96'; // efp.nes (1.6-3), the whole file

// RAM (NES work RAM, $0000-$07FF): docs/games/escape-from-pong.md
const BALL_X_FRAC = 0x15, BALL_X = 0x16;     // ball x, 8.8 fixed point, 2-pixel units
const BALL_Y_FRAC = 0x17, BALL_Y = 0x18;     // ball y, same
const BALL_VX_LO = 0x19, BALL_VX_HI = 0x1A;  // x velocity, signed 8.8 per frame
const BALL_VY_LO = 0x1B, BALL_VY_HI = 0x1C;  // y velocity, signed 8.8 per frame
const PADDLE_KIND = 0x1D, PADDLE_X = 0x1E, PADDLE_Y = 0x1F;
const PAUSE = 0x02;                          // non-zero (and not 2) while a level (re)starts
const LEVEL_PTR_LO = 0x31, LEVEL_PTR_HI = 0x32;

export const RAM_SIZE = 2048;
export const HEIGHT = 240, WIDTH = 256;

// jsnes button numbers (jsnes.Controller.BUTTON_UP ...; A, B, Select, Start are 0-3, never pressed here)
const UP = 4, DOWN = 5, LEFT = 6, RIGHT = 7;
export const DIRECTIONS = [[], [UP], [DOWN], [LEFT], [RIGHT], [UP, LEFT], [UP, RIGHT], [DOWN, LEFT], [DOWN, RIGHT]];

function signed16(lo, hi) {
  let v = hi * 256 + lo;
  if (v >= 32768) v -= 65536;
  return v / 256;
}

// Lua 5.1's a % b (a - floor(a/b)*b in doubles): the same numbers as bizhawk.lua, quirks included
/** A whole-number option (a number, or a string of one), at least `least`; else an error. */
function whole(config, name, fallback, least) {
  const raw = option(config, name, fallback);
  const n = Number(raw);
  if (raw === null || raw === '' || !Number.isInteger(n) || n < least) {
    throw new Error(`${name} must be a whole number, ${least} or more, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function luaMod(a, b) { return a - Math.floor(a / b) * b; }

/** bizhawk.lua's rng_new: minstd (48271, 2^31-1), exact in doubles. */
export class Minstd {
  constructor(seed) { this.state = 1; this.seed(seed); }
  seed(s) {
    s = Math.floor(Number(s) || 0);
    this.state = luaMod(s, 2147483646) + 1;
  }
  next() {
    this.state = luaMod(this.state * 48271, 2147483647);
    return this.state;
  }
}

function option(config, name, fallback) {
  const v = config[name];
  return v === undefined || v === null ? fallback : v;
}

function truthy(v) { return !(v === undefined || v === null || v === false || v === 0 || v === 'false' || v === '0'); }

function parseSetup(text) {
  const out = {};
  const re = /([A-Za-z0-9_]+)\s*=\s*([^,;\s]+)/g;
  let m;
  while ((m = re.exec(String(text || ''))) !== null) out[m[1]] = m[2];
  return out;
}

/** The jsnes module: from VECBRIDGE_NPM_JSNES (the unpacked package), the `jsnes` option, else `import("jsnes")`. */
export async function loadJsnes(config = {}) {
  const dir = config.jsnes || process.env.VECBRIDGE_NPM_JSNES;
  if (dir) {
    const entry = path.join(dir, 'src', 'index.js');
    if (!fs.existsSync(entry)) throw new Error(`jsnes not found: ${entry} does not exist (VECBRIDGE_NPM_JSNES=${dir})`);
    return import(pathToFileURL(entry).href);
  }
  try {
    return await import('jsnes');
  } catch (e) {
    throw new Error('jsnes not found: launch this game with vecbridge.backends.node (which fetches it), ' +
      'set VECBRIDGE_NPM_JSNES to an unpacked jsnes package, or install jsnes where Node finds it (' + e.message + ')');
  }
}

/**
 * One NES running efp.nes in jsnes, with the processor's rules. No vecbridge in here:
 * the vecbridge game below wraps it, and benchmarks drive it directly.
 */
export class EscapeFromPongCore {
  constructor(jsnes, options = {}) {
    const romPath = options.rom || DEFAULT_ROM;
    if (!fs.existsSync(romPath)) throw new Error(`the ROM file ${romPath} does not exist (Debian package efp)`);
    const rom = fs.readFileSync(romPath);
    if (options.checkHash !== false) {
      const got = crypto.createHash('sha1').update(rom).digest('hex');
      if (got !== ROM_SHA1) {
        throw new Error(`HASH mismatch: Escape from Pong expects the ROM with SHA-1 ${ROM_SHA1.toUpperCase()}, ` +
          `but ${romPath} has ${got.toUpperCase()} (game option check_hash=False skips the check)`);
      }
    }
    // emulateSound false: jsnes skips the audio channels and mixer, not what the CPU can read
    this.nes = new jsnes.NES({ emulateSound: false, onFrame() {}, onStatusUpdate() {} });
    this.nes.loadROM(rom.toString('binary'));
    this._fixup();
    this.frames = 0; // emulator frames since power-on (FCEUX's emu.framecount() counts the same way)
    this.rgb = new Uint8Array(HEIGHT * WIDTH * 3);
  }

  // jsnes builds a new CPU and PPU on loadROM/fromJSON: the settings that are not state
  _fixup() {
    const nes = this.nes;
    nes.ppu.clipToTvSize = false; // the whole 256x240 picture, as FCEUX's gui.gdscreenshot gives it
    if (typeof nes.cpu._updatePrgReadPath === 'function') nes.cpu._updatePrgReadPath(); // fast PRG reads
  }

  get ram() { return this.nes.cpu.mem; }

  setButtons(action) {
    const state = this.nes.controllers[1].state;
    for (let b = 0; b < 8; b++) state[b] = 0x40;
    const dirs = DIRECTIONS[action];
    if (dirs) for (let i = 0; i < dirs.length; i++) state[dirs[i]] = 0x41;
  }

  frame() {
    this.nes.frame();
    this.frames++;
  }

  saveState() {
    return {
      nes: structuredClone(this.nes.toJSON()),
      screen: this.nes.ppu.buffer.slice(),
      frames: this.frames,
    };
  }

  loadState(s) {
    // fromJSON keeps plain arrays of the state by reference: hand it a copy, keep ours intact
    this.nes.fromJSON(structuredClone(s.nes));
    this._fixup();
    this.nes.ppu.buffer.set(s.screen); // the picture as it was (the PPU state holds no frame buffer)
    this.frames = s.frames;
  }

  /**
   * The screen as jsnes has it: one 0x00BBGGRR word per pixel, that is R, G, B, 0 bytes in memory
   * (pixel format "rgbx"): vecbridge converts it to RGB on the host.
   */
  screenWords() { return this.nes.ppu.buffer; }

  /** The screen as RGB bytes, row-major [240, 256, 3] (for calls; observations send screenWords()). */
  screen() {
    const buf = this.nes.ppu.buffer, rgb = this.rgb;
    for (let i = 0, j = 0, n = buf.length; i < n; i++, j += 3) {
      const c = buf[i];
      rgb[j] = c & 0xff;
      rgb[j + 1] = (c >> 8) & 0xff;
      rgb[j + 2] = (c >> 16) & 0xff;
    }
    return rgb;
  }
}

/** escape_from_pong.lua's EnvProcessor, over EscapeFromPongCore instead of BizHawk's Lua API. */
export class Processor {
  constructor(core) {
    this.core = core;
    this.start = null;
    this.value = new Float32Array(8);
  }

  setup(config, setupStr) {
    const opts = parseSetup(setupStr);
    this.livesMax = Number(option(config, 'lives', opts.lives ?? 3));
    this.maxSteps = Number(option(config, 'max_steps', opts.max_steps ?? 0));
  }

  ptr() { const m = this.core.ram; return m[LEVEL_PTR_LO] + 256 * m[LEVEL_PTR_HI]; }

  // the game runs (not booting, not in a level's start pause)
  live() {
    const m = this.core.ram, pause = m[PAUSE];
    return this.ptr() !== 0 && (pause === 0 || pause === 2) && m[BALL_X] !== 255;
  }

  reset() {
    if (this.start === null) {
      // from power-on: run until level 1 is live, then keep that state for every episode
      let n = 0;
      while (!this.live()) {
        this.core.setButtons(0);
        this.core.frame();
        n++;
        if (n > 1200) throw new Error('EscapeFromPong: the game did not start within 1200 frames (wrong ROM?)');
      }
      this.start = this.core.saveState();
    } else {
      this.core.loadState(this.start);
    }
    this.lives = this.livesMax;
    this.levels = 0;
    this.deaths = 0;
    this.steps = 0;
  }

  // one frame: press, advance, then see whether the level was left or restarted
  step(action) {
    const m = this.core.ram;
    const prevPtr = this.ptr(), prevPause = m[PAUSE];
    const prevX = m[BALL_X], prevY = m[BALL_Y];
    this.core.setButtons(action);
    this.core.frame();
    this.steps++;

    const ptr = this.ptr();
    const x = m[BALL_X], y = m[BALL_Y], pause = m[PAUSE];
    const restart = ((prevPause === 0 || prevPause === 2) && pause !== 0 && pause !== 2) ||
      Math.abs(x - prevX) > 16 || Math.abs(y - prevY) > 16;
    let reward = 0;
    if (restart) {
      if (ptr !== prevPtr) {
        reward = 1; // escaped: the next level's script
        this.levels++;
      } else {
        reward = -1; // the same level again: the ball was lost
        this.deaths++;
        this.lives--;
      }
    }
    const done = this.lives <= 0;
    const truncated = !done && this.maxSteps > 0 && this.steps >= this.maxSteps;
    return [reward, done, truncated];
  }

  getObservation() {
    const m = this.core.ram, v = this.value;
    v[0] = m[BALL_X] + m[BALL_X_FRAC] / 256;
    v[1] = m[BALL_Y] + m[BALL_Y_FRAC] / 256;
    v[2] = signed16(m[BALL_VX_LO], m[BALL_VX_HI]);
    v[3] = signed16(m[BALL_VY_LO], m[BALL_VY_HI]);
    v[4] = m[PADDLE_X];
    v[5] = m[PADDLE_Y];
    v[6] = m[PADDLE_KIND];
    v[7] = this.lives;
    return v;
  }

  getInfo() {
    return { levels: this.levels, deaths: this.deaths, lives: this.lives, level_ptr: this.ptr() };
  }

  backup() { return [this.lives, this.levels, this.deaths, this.steps]; }
  restore(d) { [this.lives, this.levels, this.deaths, this.steps] = d; }
}

const OBSERVATION_TYPES = ['value', 'image', 'both', 'ram'];

/** The vecbridge game: bizhawk.lua's GymEnv (options, seeding, frameskip) around the processor. */
export class EscapeFromPong {
  name = 'EscapeFromPongJS';

  constructor(config, jsnes) {
    config = config || {};
    this.config = config;
    const obsType = String(option(config, 'observation_type', 'image')).toLowerCase();
    if (!OBSERVATION_TYPES.includes(obsType)) {
      throw new Error(`observation_type must be "value", "image", "both" or "ram", got "${obsType}"`);
    }
    this.observationType = obsType;
    this.frameskip = whole(config, 'frameskip', 4, 1);
    this.noopMax = whole(config, 'noop_max', 30, 0);
    this.resetState = option(config, 'reset_state', 'poweron');
    if (this.resetState !== 'poweron' && this.resetState !== 'none') {
      throw new Error(`reset_state must be "poweron" or "none", got ${this.resetState}`);
    }
    this.rng = new Minstd(Number(process.env.VECBRIDGE_INSTANCE || 0) || 0);

    this.core = new EscapeFromPongCore(jsnes, {
      rom: option(config, 'rom', DEFAULT_ROM),
      checkHash: truthy(option(config, 'check_hash', true)),
    });
    // one frame first (as the runtime does under FCEUX), then the power-on state
    this.core.setButtons(0);
    this.core.frame();
    this.poweron = this.core.saveState();
    this.atPoweron = true; // the emulator still is in the power-on state: the first reset need not load it
    this.processor = new Processor(this.core);
    this.processor.setup(config, String(option(config, 'setup_str', '')));

    const value = { type: 'Box', low: null, high: null, shape: [8], dtype: 'float32' };
    // the RGB image the user gets; jsnes's own frame buffer travels (pixel_format "rgbx")
    const image = { type: 'Box', low: 0, high: 255, shape: [HEIGHT, WIDTH, 3], dtype: 'uint8', pixel_format: 'rgbx' };
    const ram = { type: 'Box', low: 0, high: 255, shape: [RAM_SIZE], dtype: 'uint8' };
    this.observationSpace = { value, image, ram, both: { type: 'Dict', spaces: { image, value } } }[obsType];
    this.actionSpace = { type: 'Discrete', n: 9 };
    this.metadata = { render_modes: ['rgb_array'], render_fps: 60 / this.frameskip };
    this.states = new Map();

    // the first reset, as the runtime does before its hello (it draws from the generator)
    this._reset(null, null);
    this.fresh = true;
  }

  // reset the emulator and the processor; returns the number of idle frames run
  _reset(seed, options) {
    const p = this.processor;
    if (seed !== null && seed !== undefined) this.rng.seed(seed);
    options = options && typeof options === 'object' ? options : {};
    const firstNone = this.fresh && this.resetState === 'none';
    this.fresh = false;
    const callReset = !firstNone;
    // poweron: reload the power-on state (skipped when the processor reloads its start state right after)
    if (this.resetState === 'poweron' && !(callReset && p.start !== null) && !this.atPoweron) {
      this.core.loadState(this.poweron);
    }
    this.atPoweron = false;
    this.core.setButtons(0);
    if (callReset) p.reset();
    let noops = options.noops === undefined || options.noops === null ? NaN : Number(options.noops);
    if (Number.isNaN(noops)) noops = this.noopMax > 0 ? this.rng.next() % (this.noopMax + 1) : 0;
    for (let i = 0; i < noops; i++) {
      this.core.setButtons(0);
      this.core.frame();
    }
    return noops;
  }

  _observe() {
    switch (this.observationType) {
      case 'value': return this.processor.getObservation();
      case 'image': return this.core.screenWords();
      case 'ram': return this.core.ram.subarray(0, RAM_SIZE);
      default: return { image: this.core.screenWords(), value: this.processor.getObservation() };
    }
  }

  reset(seed, options) {
    const noops = this._reset(seed, options);
    return { observation: this._observe(), info: { ...this.processor.getInfo(), noops } };
  }

  step(action) {
    const p = this.processor;
    let total = 0, terminated = false, truncated = false;
    for (let frames = 0; frames < this.frameskip; frames++) {
      const [r, a, b] = p.step(action);
      total += r;
      terminated = a;
      truncated = b;
      if (terminated || truncated) break;
    }
    return { observation: this._observe(), reward: total, terminated, truncated, info: p.getInfo() };
  }

  render() {
    return { data: this.core.screenWords(), height: HEIGHT, width: WIDTH, pixel_format: 'rgbx' };
  }

  // env.call(...) methods, as the Lua runtime offers them
  framecount() { return this.core.frames; }
  getInfo() { return this.processor.getInfo(); }
  getObservation() { return Array.from(this.processor.getObservation()); }
  read_ram(addr, n = 1) {
    addr = Number(addr); n = Number(n);
    return this.core.ram.slice(addr, addr + n); // a Uint8Array: travels as a uint8 array
  }
  save_state(name = 'default') {
    this.states.set(String(name), { core: this.core.saveState(), processor: this.processor.backup() });
    return true;
  }
  load_state(name = 'default') {
    const s = this.states.get(String(name));
    if (!s) throw new Error(`load_state: no state saved as '${name}'`);
    this.core.loadState(s.core);
    this.processor.restore(s.processor);
    const shaped = (a, shape) => { const c = a.slice(); c.shape = shape; return c; }; // typed arrays travel with .shape
    // a call value is no observation: the screen goes as RGB
    if (this.observationType === 'image') return shaped(this.core.screen(), [HEIGHT, WIDTH, 3]);
    if (this.observationType === 'both') {
      return { image: shaped(this.core.screen(), [HEIGHT, WIDTH, 3]), value: this.processor.getObservation().slice() };
    }
    return this._observe().slice();
  }
}

function loadClient() {
  const require = createRequire(import.meta.url);
  const launchers = process.env.VECBRIDGE_LAUNCHERS;
  const candidates = [launchers && path.join(launchers, 'js', 'vecbridge.js'), path.join(HERE, '..', 'vecbridge.js')];
  for (const file of candidates) if (file && fs.existsSync(file)) return require(file);
  return require('vecbridge'); // NODE_PATH
}

const isMain = process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url;
if (isMain) {
  loadClient().serve(async (config) => new EscapeFromPong(config, await loadJsnes(config)));
}
