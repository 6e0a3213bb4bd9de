/*
 * vecbridge JavaScript game client, wire protocol version 1 (docs/protocol.md).
 *
 * One self-contained classic script, no dependencies, no build step:
 *   - browser: <script src=".../vecbridge.js"></script>, or inject the file's text
 *     (e.g. Page.addScriptToEvaluateOnNewDocument); it defines globalThis.vecbridge.
 *   - Node: require(".../vecbridge.js"), or import ".../vecbridge.mjs".
 *
 *   vecbridge.serve(game, opts) -> Promise
 *
 * connects to vecbridge (Node: TCP with the `binary` framing, parameters from the
 * VECBRIDGE_* environment variables; browser: a WebSocket, parameters from the page's
 * query string or `opts`), says hello with the game's spaces and answers reset / step /
 * render / call until vecbridge sends `close` or the connection ends. See README.md.
 */
(function (root, factory) {
  'use strict';
  var isNode = typeof process === 'object' && process !== null && !!(process.versions && process.versions.node);
  if (isNode && typeof module === 'object' && module && typeof module.exports === 'object') {
    module.exports = factory(root, isNode);
  } else if (!(root.vecbridge && root.vecbridge.PROTOCOL_VERSION)) {
    // A bridge injected into every document may meet a page that loads the client itself:
    // the first definition wins, so a running session is never replaced.
    root.vecbridge = factory(root, isNode);
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (root, isNode) {
  'use strict';

  var PROTOCOL_VERSION = 1;
  var DEFAULT_MAX_FRAME = 64 * 1024 * 1024;
  var LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  var textEncoder = new TextEncoder();
  var textDecoder = new TextDecoder('utf-8', { fatal: true });

  // ------------------------------------------------------------------ errors

  function VecbridgeError(message) {
    var err = new Error(message);
    err.name = 'VecbridgeError';
    return err;
  }

  function SpaceError(message) {
    var err = new Error(message);
    err.name = 'SpaceError';
    return err;
  }

  function ArrayMismatch(message) {
    var err = new Error(message);
    err.name = 'ArrayMismatch';
    return err;
  }

  // ------------------------------------------------------------------ dtypes

  // wire: the typed array holding the bytes on the wire; user: what the game gets.
  // conv: one value (number, boolean or bigint) -> an element of `wire`.
  function toNumber(v) { return typeof v === 'number' ? v : Number(v); }
  function toBool(v) { return v ? 1 : 0; }
  function toBigInt(v) {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'boolean') return v ? 1n : 0n;
    var n = Number(v);
    if (!Number.isFinite(n)) throw new RangeError('cannot store ' + String(v) + ' in a 64-bit integer array');
    return BigInt(Math.trunc(n));
  }

  var DTYPES = {};
  // integer dtypes: [min, max] (a value that does not fit would wrap in the wire array: refused instead)
  var INT_RANGES = {
    int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
    int32: [-2147483648, 2147483647], uint32: [0, 4294967295],
    int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n]
  };
  function dtype(name, size, wire, conv, plain) {
    DTYPES[name] = { name: name, itemsize: size, wire: wire, conv: conv, plain: plain, range: INT_RANGES[name] };
  }
  // plain: the wire array accepts numbers through TypedArray.prototype.set with the right meaning
  dtype('bool', 1, Uint8Array, toBool, false);
  dtype('int8', 1, Int8Array, toNumber, true);
  dtype('uint8', 1, Uint8Array, toNumber, true);
  dtype('int16', 2, Int16Array, toNumber, true);
  dtype('uint16', 2, Uint16Array, toNumber, true);
  dtype('int32', 4, Int32Array, toNumber, true);
  dtype('uint32', 4, Uint32Array, toNumber, true);
  dtype('int64', 8, BigInt64Array, toBigInt, false);
  dtype('uint64', 8, BigUint64Array, toBigInt, false);
  dtype('float16', 2, Uint16Array, floatToHalf, false);
  dtype('float32', 4, Float32Array, toNumber, true);
  dtype('float64', 8, Float64Array, toNumber, true);

  // typed array tag (works across realms) -> wire dtype, for arrays inside info / call values
  var TAG_DTYPES = {
    Int8Array: 'int8', Uint8Array: 'uint8', Uint8ClampedArray: 'uint8', Int16Array: 'int16',
    Uint16Array: 'uint16', Int32Array: 'int32', Uint32Array: 'uint32', BigInt64Array: 'int64',
    BigUint64Array: 'uint64', Float16Array: 'float16', Float32Array: 'float32', Float64Array: 'float64'
  };

  function getDtype(name) {
    var dt = DTYPES[name];
    if (!dt) throw SpaceError('unsupported dtype ' + JSON.stringify(name) + '; expected one of ' + Object.keys(DTYPES).join(', '));
    return dt;
  }

  function isTypedArray(v) { return ArrayBuffer.isView(v) && !(v instanceof DataView); }
  function typedTag(v) { return v[Symbol.toStringTag]; }

  // float16 <-> number, round half to even (via float32: can double-round in rare ties)
  var f32 = new Float32Array(1);
  var u32 = new Uint32Array(f32.buffer);
  function floatToHalf(value) {
    f32[0] = Number(value);
    var x = u32[0];
    var sign = (x >>> 16) & 0x8000, exp = (x >>> 23) & 0xff, mant = x & 0x7fffff;
    if (exp === 255) return sign | 0x7c00 | (mant ? 0x200 : 0);
    var e = exp - 112; // rebias 127 -> 15
    var half, rem, mid, shift;
    if (e >= 31) return sign | 0x7c00;
    if (e <= 0) {
      if (e < -10) return sign;
      mant |= 0x800000;
      shift = 14 - e;
      half = mant >>> shift;
      rem = mant & ((1 << shift) - 1);
      mid = 1 << (shift - 1);
    } else {
      half = (e << 10) | (mant >>> 13);
      rem = mant & 0x1fff;
      mid = 0x1000;
    }
    if (rem > mid || (rem === mid && (half & 1))) half++; // a carry into the exponent is right
    return sign | half;
  }
  function halfToFloat(h) {
    var s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
    if (e === 0) return s * f * Math.pow(2, -24);
    if (e === 31) return f ? NaN : s * Infinity;
    return s * (1 + f / 1024) * Math.pow(2, e - 15);
  }

  // ------------------------------------------------------------------ spaces

  // A parsed space is one of
  //   {kind: 'Discrete', n, start}
  //   {kind: 'Box' | 'MultiDiscrete' | 'MultiBinary', dtype, shape, size, nbytes, desc, stage}
  //   {kind: 'Dict', keys, spaces}   {kind: 'Tuple', spaces}

  function product(shape) {
    var n = 1;
    for (var i = 0; i < shape.length; i++) n *= shape[i];
    return n;
  }

  function arrayLeaf(kind, dtypeName, shape) {
    var dt = getDtype(dtypeName);
    var size = product(shape);
    return {
      kind: kind, dtype: dt, shape: shape, size: size, nbytes: size * dt.itemsize,
      desc: { dtype: dt.name, shape: shape }, stage: null
    };
  }

  function parseShape(value, what) {
    if (typeof value === 'number') value = [value];
    if (!Array.isArray(value) || !value.every(function (d) { return Number.isInteger(d) && d >= 0; })) {
      throw SpaceError(what + ' must be a list of non-negative integers, got ' + JSON.stringify(value));
    }
    return value.slice();
  }

  function nestedShape(value) {
    var shape = [];
    while (Array.isArray(value)) { shape.push(value.length); value = value[0]; }
    return shape;
  }

  /** A space from its JSON description or gym-bizhawk type string(s) (docs/protocol.md section 5). */
  function parseSpace(desc) {
    if (typeof desc === 'string') return spaceFromTypeStrings([desc]);
    if (Array.isArray(desc) && desc.length && desc.every(function (d) { return typeof d === 'string'; })) {
      return spaceFromTypeStrings(desc);
    }
    if (desc === null || typeof desc !== 'object' || Array.isArray(desc) || typeof desc.type !== 'string') {
      throw SpaceError('a space description must be an object with a "type" or type string(s), got ' + safeJson(desc));
    }
    switch (desc.type) {
      case 'Box': {
        var box = arrayLeaf('Box', desc.dtype === undefined ? 'float32' : desc.dtype,
          parseShape(desc.shape === undefined ? [] : desc.shape, 'Box "shape"'));
        return desc.pixel_format === undefined || desc.pixel_format === 'rgb' ? box : pixelLeaf(box, desc.pixel_format);
      }
      case 'Discrete':
        if (!Number.isInteger(desc.n) || desc.n <= 0) throw SpaceError('Discrete "n" must be a positive integer, got ' + safeJson(desc.n));
        if (desc.start !== undefined && !Number.isInteger(desc.start)) throw SpaceError('Discrete "start" must be an integer, got ' + safeJson(desc.start));
        return { kind: 'Discrete', n: desc.n, start: desc.start || 0 };
      case 'MultiDiscrete':
        if (!Array.isArray(desc.nvec)) throw SpaceError('MultiDiscrete "nvec" must be a list of integers, got ' + safeJson(desc.nvec));
        return arrayLeaf('MultiDiscrete', 'int64', nestedShape(desc.nvec));
      case 'MultiBinary':
        return arrayLeaf('MultiBinary', 'int8', parseShape(desc.n, 'MultiBinary "n"'));
      case 'Dict': {
        var sub = desc.spaces;
        if (sub === null || typeof sub !== 'object' || Array.isArray(sub)) throw SpaceError('Dict "spaces" must be an object of name -> space');
        var keys = Object.keys(sub), spaces = {};
        keys.forEach(function (k) { spaces[k] = parseSpace(sub[k]); });
        return { kind: 'Dict', keys: keys, spaces: spaces };
      }
      case 'Tuple':
        if (!Array.isArray(desc.spaces)) throw SpaceError('Tuple "spaces" must be a list of spaces');
        return { kind: 'Tuple', spaces: desc.spaces.map(parseSpace) };
      default:
        throw SpaceError('unknown space type ' + JSON.stringify(desc.type) + '; expected Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple');
    }
  }

  // ------------------------------------------------------------------ pixel formats (docs/protocol.md)

  // format -> bytes per pixel on the wire; png: a whole PNG file, any length
  var PIXEL_FORMATS = { rgb: 3, rgbx: 4, bgrx: 4, xrgb: 4, palette: 1, png: null };

  function wireShape(format, h, w) {
    var bpp = PIXEL_FORMATS[format];
    return bpp === null ? null : bpp === 1 ? [h, w] : [h, w, bpp];
  }

  /** An image leaf (uint8 Box [H, W, 3]) whose values travel in a pixel format, converted to RGB by vecbridge. */
  function pixelLeaf(box, format) {
    if (!Object.prototype.hasOwnProperty.call(PIXEL_FORMATS, format)) {
      throw SpaceError('unknown pixel_format ' + JSON.stringify(format) + '; expected one of ' + Object.keys(PIXEL_FORMATS).join(', '));
    }
    if (box.dtype.name !== 'uint8' || box.shape.length !== 3 || box.shape[2] !== 3) {
      throw SpaceError('a pixel_format belongs on a uint8 Box of shape [H, W, 3], not ' + describeSpace(box));
    }
    var shape = wireShape(format, box.shape[0], box.shape[1]);
    var size = shape === null ? null : product(shape);
    return {
      kind: 'Box', dtype: box.dtype, shape: box.shape, size: size, nbytes: size, pixelFormat: format,
      desc: shape === null ? null : { dtype: 'uint8', shape: shape }, stage: null
    };
  }

  /** The wire bytes of a pixel-format value: any typed array (or ArrayBuffer) of the right byte length, as is. */
  function pixelBytes(value, nbytes, expect, what) {
    if (value !== null && typeof value === 'object' && value.data !== undefined && !isTypedArray(value)) value = value.data;
    if (value instanceof ArrayBuffer) value = new Uint8Array(value);
    if (!isTypedArray(value) || (nbytes !== null && value.byteLength !== nbytes)) {
      throw ArrayMismatch(what + ': expected ' + expect + ', got ' + describeValue(value) +
        (isTypedArray(value) ? ' (' + value.byteLength + ' bytes)' : ''));
    }
    return value instanceof Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength); // zero copy
  }

  function describePixels(format, shape) {
    return shape === null ? 'the bytes of a PNG file (pixel_format "png")'
      : 'uint8 ' + JSON.stringify(shape) + ' bytes (pixel_format "' + format + '", ' + product(shape) + ' bytes)';
  }

  var TYPE_ITEM = /^\s*(bool|int|float)(?:\s+([-+0-9.eE]+|-?inf)\s+([-+0-9.eE]+|-?inf))?\s*(?:\[\s*(\d+)\s*\])?\s*$/;

  /** "int 0 3 [2]" -> [{kind: 'int', lo: 0, hi: 3}, {kind: 'int', lo: 0, hi: 3}] */
  function parseTypeString(text) {
    var m = typeof text === 'string' ? TYPE_ITEM.exec(text) : null;
    if (!m) {
      throw SpaceError('invalid type string ' + safeJson(text) + "; expected 'bool', 'int', 'int LO HI', 'float' or 'float LO HI', optionally followed by '[N]'");
    }
    var kind = m[1], lo = null, hi = null;
    if (m[2] !== undefined) {
      if (kind === 'bool') throw SpaceError('invalid type string ' + JSON.stringify(text) + ": 'bool' takes no bounds");
      if (kind === 'int') {
        if (!/^[-+]?\d+$/.test(m[2]) || !/^[-+]?\d+$/.test(m[3])) throw SpaceError('invalid type string ' + JSON.stringify(text) + ": bounds of 'int' must be integers");
        lo = parseInt(m[2], 10); hi = parseInt(m[3], 10);
      } else {
        lo = parseBound(m[2]); hi = parseBound(m[3]);
        if (Number.isNaN(lo) || Number.isNaN(hi)) throw SpaceError('invalid type string ' + JSON.stringify(text) + ': bad bounds');
      }
      if (hi < lo) throw SpaceError('invalid type string ' + JSON.stringify(text) + ': HI (' + m[3] + ') is below LO (' + m[2] + ')');
    }
    var n = m[4] === undefined ? 1 : parseInt(m[4], 10), out = [];
    for (var i = 0; i < n; i++) out.push({ kind: kind, lo: lo, hi: hi });
    return out;
  }

  function parseBound(s) { return s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s); }

  function itemSpace(item) {
    if (item.kind === 'bool') return { kind: 'Discrete', n: 2, start: 0 };
    if (item.kind === 'int') {
      if (item.lo === null) return arrayLeaf('Box', 'int64', []);
      return { kind: 'Discrete', n: item.hi - item.lo + 1, start: item.lo };
    }
    return arrayLeaf('Box', 'float32', []);
  }

  function spaceFromTypeStrings(items) {
    var parsed = [];
    items.forEach(function (t) { parsed.push.apply(parsed, parseTypeString(t)); });
    if (!parsed.length) throw SpaceError('an empty list of type strings declares no space');
    if (parsed.length === 1 && items[0].indexOf('[') < 0) return itemSpace(parsed[0]);
    var discrete = parsed.map(function (p) { return p.kind === 'bool' || (p.kind === 'int' && p.lo !== null); });
    if (discrete.every(Boolean)) return arrayLeaf('MultiDiscrete', 'int64', [parsed.length]);
    if (!discrete.some(Boolean)) {
      var anyFloat = parsed.some(function (p) { return p.kind === 'float'; });
      return arrayLeaf('Box', anyFloat ? 'float32' : 'int64', [parsed.length]);
    }
    return { kind: 'Tuple', spaces: parsed.map(itemSpace) };
  }

  function describeSpace(space) {
    if (space.kind === 'Discrete') {
      return 'an integer in [' + space.start + ', ' + (space.start + space.n - 1) + '] (Discrete(' + space.n + '))';
    }
    if (space.kind === 'Dict') return 'an object with keys ' + JSON.stringify(space.keys) + ' (Dict)';
    if (space.kind === 'Tuple') return 'a list of ' + space.spaces.length + ' values (Tuple)';
    return 'a ' + space.dtype.name + ' array of shape ' + JSON.stringify(space.shape) + ' (' + space.size + ' value' + (space.size === 1 ? '' : 's') + ', ' + space.kind + ')';
  }

  function describeValue(v) {
    if (v === null) return 'null';
    if (v === undefined) return 'undefined';
    if (isTypedArray(v)) return 'a ' + typedTag(v) + ' of ' + v.length + ' values';
    if (Array.isArray(v)) return 'an Array of ' + v.length + ' values';
    if (typeof v === 'object') {
      if (v.data !== undefined) return 'an object with .data (' + describeValue(v.data) + ')';
      return 'an object with keys ' + JSON.stringify(Object.keys(v));
    }
    return typeof v + ' ' + String(v).slice(0, 60);
  }

  function safeJson(v) {
    try { return String(JSON.stringify(v)).slice(0, 200); } catch (e) { return String(v); }
  }

  // ------------------------------------------------------------------ arrays

  /** A shaped array for info and call values (a plain typed array travels with shape [length]). */
  function NDArray(data, shape, dtypeName) {
    if (!(this instanceof NDArray)) return new NDArray(data, shape, dtypeName);
    if (!isTypedArray(data) && !Array.isArray(data)) throw new TypeError('ndarray: data must be a typed array or an Array');
    this.data = data;
    this.shape = shape === undefined ? [data.length] : parseShape(shape, 'ndarray shape');
    this.dtype = dtypeName || (isTypedArray(data) ? TAG_DTYPES[typedTag(data)] : 'float64');
    getDtype(this.dtype);
  }

  // ImageData-like {data (RGBA), width, height} where the leaf wants [height, width, 3]
  function isRgbaFor(value, leaf) {
    return value.width !== undefined && value.height !== undefined && leaf.shape.length === 3 && leaf.shape[2] === 3 &&
      value.data.length === value.width * value.height * 4 && leaf.size === value.width * value.height * 3;
  }

  function rgbaToRgb(src, dst) {
    for (var i = 0, j = 0, n = dst.length; j < n; i += 4, j += 3) {
      dst[j] = src[i]; dst[j + 1] = src[i + 1]; dst[j + 2] = src[i + 2];
    }
    return dst;
  }

  function stageOf(leaf) {
    return leaf.stage || (leaf.stage = new leaf.dtype.wire(leaf.size));
  }

  function flattenInto(dst, conv, src, pos) {
    for (var i = 0; i < src.length; i++) {
      var v = src[i];
      if (Array.isArray(v) || isTypedArray(v)) pos = flattenInto(dst, conv, v, pos);
      else { if (pos < dst.length) dst[pos] = conv(v); pos++; }
    }
    return pos;
  }

  // An integer wire array wraps what does not fit (300.7 -> 44 in a Uint8Array) and truncates
  // fractions: after a conversion, every value must have arrived as it was (the Lua and Python
  // clients refuse the same values). `values` is flat, or nested (then read in the same order).
  function checkFits(dst, values, dt, what) {
    if (dt.range === undefined) return;
    var k = 0;
    (function walk(src) {
      for (var i = 0; i < src.length; i++) {
        var v = src[i];
        if (Array.isArray(v) || isTypedArray(v)) { walk(v); continue; }
        var want = typeof v === 'boolean' ? (v ? 1 : 0) : v;
        if (dst[k] != want) { // loose: 3n == 3, and '3' == 3 as TypedArray.set reads it
          var n = Number(want), lo = dt.range[0], hi = dt.range[1];
          var why = Number.isInteger(n) ? 'out of range for ' + dt.name + ' [' + lo + ', ' + hi + ']'
            : 'expected an integer for ' + dt.name;
          throw ArrayMismatch(what + ': item ' + k + ' is ' + String(v) + ': ' + why);
        }
        k++;
      }
    })(values);
  }

  function countLeaves(src) {
    var n = 0;
    for (var i = 0; i < src.length; i++) n += Array.isArray(src[i]) || isTypedArray(src[i]) ? countLeaves(src[i]) : 1;
    return n;
  }

  /** The typed array (wire dtype, exactly leaf.size values) holding `value`; reuses a buffer per leaf. */
  function leafArray(leaf, value, what) {
    var dt = leaf.dtype;
    if (value !== null && typeof value === 'object' && !isTypedArray(value) && !Array.isArray(value) && value.data !== undefined) {
      // ImageData, NDArray or {data, ...}
      if (value.shape !== undefined && product(value.shape) !== leaf.size) {
        throw ArrayMismatch(what + ': expected ' + describeSpace(leaf) + ', got an array of shape ' + JSON.stringify(value.shape));
      }
      if (value.width !== undefined && value.height !== undefined && leaf.shape.length >= 2 &&
          (value.height !== leaf.shape[0] || value.width !== leaf.shape[1])) { // (a fitting byte count hid it)
        throw ArrayMismatch(what + ': expected ' + describeSpace(leaf) + ', got an image of width ' + value.width +
          ' and height ' + value.height + ' (shape [height, width, ...])');
      }
      if (isRgbaFor(value, leaf)) return rgbaToRgb(value.data, stageOf(leaf));
      value = value.data;
    }
    if (isTypedArray(value)) {
      if (value.length !== leaf.size) throw sizeError(leaf, value, what);
      var tag = typedTag(value);
      if (value instanceof dt.wire && dt.name !== 'bool' && dt.name !== 'float16') return value; // zero copy
      if (tag === 'Uint8ClampedArray' && dt.name === 'uint8') return value;
      var stage = stageOf(leaf);
      if (dt.plain && tag !== 'BigInt64Array' && tag !== 'BigUint64Array') stage.set(value);
      else for (var i = 0; i < value.length; i++) stage[i] = dt.conv(value[i]);
      checkFits(stage, value, dt, what);
      return stage;
    }
    if (Array.isArray(value)) {
      var st = stageOf(leaf);
      if (value.length === leaf.size && (leaf.shape.length <= 1 || !Array.isArray(value[0]))) {
        var done = false;
        if (dt.plain) {
          try { st.set(value); done = true; } catch (e) { /* bigints inside: convert one by one */ }
        }
        if (!done) for (var j = 0; j < value.length; j++) st[j] = dt.conv(value[j]);
        checkFits(st, value, dt, what);
        return st;
      }
      var count = countLeaves(value);
      if (count !== leaf.size) throw sizeError(leaf, value, what, count);
      flattenInto(st, dt.conv, value, 0);
      checkFits(st, value, dt, what);
      return st;
    }
    if ((typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') && leaf.size === 1) {
      var one = stageOf(leaf);
      one[0] = dt.conv(value);
      checkFits(one, [value], dt, what);
      return one;
    }
    throw ArrayMismatch(what + ': expected ' + describeSpace(leaf) + ', got ' + describeValue(value));
  }

  function sizeError(leaf, value, what, count) {
    var nested = Array.isArray(value) && value.some(function (x) { return Array.isArray(x) || isTypedArray(x); });
    var got = count === undefined || !nested ? describeValue(value) : 'a nested Array of ' + count + ' values';
    return ArrayMismatch(what + ': expected ' + describeSpace(leaf) + ', got ' + got);
  }

  // ------------------------------------------------------------------ encoding

  // While a message is encoded, its arrays are collected in a flat list: typedArray, desc, ...

  /** The wire form of a value of `space` (array leaves become {"$array": k} refs). */
  function encodeSpaceValue(space, value, arrays, what) {
    switch (space.kind) {
      case 'Discrete': {
        var v = value;
        if (isTypedArray(v) && v.length === 1) v = v[0];
        if (typeof v === 'bigint' || typeof v === 'boolean') v = Number(v);
        if (typeof v !== 'number' || !Number.isInteger(v) || v < space.start || v >= space.start + space.n) {
          throw ArrayMismatch(what + ': expected ' + describeSpace(space) + ', got ' + describeValue(value));
        }
        return v;
      }
      case 'Dict': {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw ArrayMismatch(what + ': expected ' + describeSpace(space) + ', got ' + describeValue(value));
        }
        var out = {};
        for (var i = 0; i < space.keys.length; i++) {
          var k = space.keys[i];
          if (!(k in value)) throw ArrayMismatch(what + ': the key ' + JSON.stringify(k) + ' is missing; expected ' + describeSpace(space));
          out[k] = encodeSpaceValue(space.spaces[k], value[k], arrays, what + '[' + JSON.stringify(k) + ']');
        }
        for (var key in value) {
          if (!(key in space.spaces)) throw ArrayMismatch(what + ': unexpected key ' + JSON.stringify(key) + '; expected ' + describeSpace(space));
        }
        return out;
      }
      case 'Tuple': {
        if (!Array.isArray(value) || value.length !== space.spaces.length) {
          throw ArrayMismatch(what + ': expected ' + describeSpace(space) + ', got ' + describeValue(value));
        }
        return space.spaces.map(function (sub, j) { return encodeSpaceValue(sub, value[j], arrays, what + '[' + j + ']'); });
      }
      default:
        if (space.pixelFormat) { // the emulator's own bytes: vecbridge converts them to RGB
          var px = pixelBytes(value, space.nbytes, describePixels(space.pixelFormat, space.desc && space.desc.shape), what);
          arrays.push(px, space.desc || { dtype: 'uint8', shape: [px.length] });
        } else {
          arrays.push(leafArray(space, value, what), space.desc);
        }
        return { $array: arrays.length / 2 - 1 };
    }
  }

  /** Free-form values (info, call results): typed arrays and NDArrays travel as raw arrays. */
  function encodeFree(value, arrays, depth) {
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'bigint') return Number(value);
      if (typeof value === 'function' || typeof value === 'symbol') return null;
      return value === undefined ? null : value;
    }
    if (depth > 64) throw new TypeError('a value nested more than 64 levels deep (a cycle?) cannot be sent');
    if (isTypedArray(value)) {
      var dt = TAG_DTYPES[typedTag(value)];
      if (!dt) throw new TypeError('cannot send a ' + typedTag(value));
      // a received array keeps its shape (decodeMessage sets .shape); others travel 1-D
      var shape = Array.isArray(value.shape) && product(value.shape) === value.length ? value.shape : [value.length];
      if (dt === 'float16') value = new Uint16Array(value.buffer, value.byteOffset, value.length);
      arrays.push(value, { dtype: dt, shape: shape });
      return { $array: arrays.length / 2 - 1 };
    }
    if (value instanceof NDArray) {
      var leaf = arrayLeaf('Box', value.dtype, value.shape);
      arrays.push(leafArray(leaf, value.data, 'ndarray'), leaf.desc);
      return { $array: arrays.length / 2 - 1 };
    }
    if (value instanceof ArrayBuffer) {
      arrays.push(new Uint8Array(value), { dtype: 'uint8', shape: [value.byteLength] });
      return { $array: arrays.length / 2 - 1 };
    }
    if (Array.isArray(value)) {
      var list = new Array(value.length);
      for (var i = 0; i < value.length; i++) list[i] = encodeFree(value[i], arrays, depth + 1);
      return list;
    }
    if (typeof value.toJSON === 'function') return value.toJSON();
    if (value instanceof Map) value = Object.fromEntries(value);
    var out = {};
    for (var k in value) {
      if (!Object.prototype.hasOwnProperty.call(value, k)) continue;
      var v = value[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      out[k] = encodeFree(v, arrays, depth + 1);
    }
    return out;
  }

  function hasTypedOrBig(value, depth) {
    // fast check so that plain JSON info skips the copy done by encodeFree
    if (value === null || typeof value !== 'object') return typeof value === 'bigint' || value === undefined;
    if (isTypedArray(value) || value instanceof NDArray || value instanceof ArrayBuffer || value instanceof Map || depth > 64) return true;
    for (var k in value) if (hasTypedOrBig(value[k], depth + 1)) return true;
    return false;
  }

  /** The allowed actions of a result object ({..., action_mask: [true, false, ...]}) as a bool array. */
  function encodeMask(result, arrays, what) {
    var mask = result !== null && typeof result === 'object' && !Array.isArray(result) ? result.action_mask : undefined;
    if (mask === undefined || mask === null || typeof mask.length !== 'number' || mask.length < 1 || typeof mask === 'string') {
      throw new TypeError(what + ': the game declares metadata.action_mask, so it must return {observation, ..., action_mask} ' +
        'with action_mask a list of booleans (true = allowed), got ' + describeValue(mask));
    }
    var bytes = new Uint8Array(mask.length);
    for (var i = 0; i < mask.length; i++) {
      var v = mask[i];
      if (v === true || v === 1) bytes[i] = 1;
      else if (v !== false && v !== 0) throw new TypeError(what + ': action_mask[' + i + '] is ' + describeValue(v) + ', expected true or false');
    }
    arrays.push(bytes, { dtype: 'bool', shape: [mask.length] });
    return { $array: arrays.length / 2 - 1 };
  }

  function encodeInfo(info, arrays, what) {
    if (info === undefined || info === null) return {};
    if (typeof info !== 'object' || Array.isArray(info) || isTypedArray(info)) {
      throw new TypeError(what + ': info must be an object, got ' + describeValue(info));
    }
    return hasTypedOrBig(info, 0) ? encodeFree(info, arrays, 0) : info;
  }

  /**
   * Encode one message into `buf` (a growable Uint8Array holder {bytes}) starting at offset 4,
   * leaving bytes 0..3 for a binary framing prefix. Returns the end offset.
   */
  function encodeInto(holder, header, arrays) {
    var descs = null, dataBytes = 0, i;
    if (arrays.length) {
      descs = [];
      for (i = 0; i < arrays.length; i += 2) {
        descs.push(arrays[i + 1]);
        dataBytes += arrays[i].byteLength;
      }
      header.arrays = descs;
    }
    var json = JSON.stringify(header);
    var need = 8 + json.length * 3 + dataBytes;
    if (holder.bytes.length < need) holder.bytes = new Uint8Array(Math.max(need, holder.bytes.length * 2));
    var out = holder.bytes;
    var written = textEncoder.encodeInto(json, out.subarray(8)).written;
    writeU32(out, 4, written);
    var pos = 8 + written;
    for (i = 0; i < arrays.length; i += 2) {
      var a = arrays[i];
      out.set(a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength), pos);
      pos += a.byteLength;
    }
    writeU32(out, 0, pos - 4);
    return pos;
  }

  function writeU32(out, pos, v) {
    out[pos] = v & 0xff; out[pos + 1] = (v >>> 8) & 0xff; out[pos + 2] = (v >>> 16) & 0xff; out[pos + 3] = (v >>> 24) & 0xff;
  }
  function readU32(b, pos) {
    return (b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16)) + b[pos + 3] * 0x1000000;
  }

  /** Encode a message to a fresh Uint8Array payload (no framing); for tools and tests. */
  function encodeMessage(type, fields) {
    var arrays = [], header = { type: type };
    if (fields) {
      var enc = encodeFree(fields, arrays, 0);
      for (var k in enc) header[k] = enc[k];
    }
    var holder = { bytes: new Uint8Array(256) };
    var end = encodeInto(holder, header, arrays);
    return holder.bytes.slice(4, end);
  }

  // ------------------------------------------------------------------ decoding

  /**
   * Decode one payload (Uint8Array) into its header object with arrays resolved to typed arrays
   * (copied, so the payload may be reused; each gets a `shape` property).
   * opts.int64: 'bigint' (default: BigInt64Array / BigUint64Array) or 'number' (Float64Array).
   */
  function decodeMessage(payload, opts) {
    if (payload.length < 4) throw VecbridgeError('a message needs a 4-byte header length; the payload has ' + payload.length + ' byte(s)');
    var hlen = readU32(payload, 0);
    if (hlen > payload.length - 4) throw VecbridgeError('the header length says ' + hlen + ' bytes but only ' + (payload.length - 4) + ' follow it');
    var header = JSON.parse(textDecoder.decode(payload.subarray(4, 4 + hlen)));
    if (header === null || typeof header !== 'object' || Array.isArray(header) || typeof header.type !== 'string') {
      throw VecbridgeError('the header is not a JSON object with a string "type"');
    }
    var descs = header.arrays;
    if (descs !== undefined) {
      delete header.arrays;
      if (!Array.isArray(descs)) throw VecbridgeError('"arrays" must be a list');
      var arrays = [], pos = 4 + hlen, asNumber = opts && opts.int64 === 'number';
      for (var k = 0; k < descs.length; k++) {
        var dt = getDtype(descs[k].dtype), shape = parseShape(descs[k].shape, 'array shape');
        var nbytes = product(shape) * dt.itemsize;
        if (pos + nbytes > payload.length) throw VecbridgeError('array ' + k + ' needs ' + nbytes + ' bytes but only ' + (payload.length - pos) + ' remain');
        var start = payload.byteOffset + pos;
        var arr = new dt.wire(payload.buffer.slice(start, start + nbytes));
        if (dt.name === 'float16') arr = Float32Array.from(arr, halfToFloat);
        else if (asNumber && dt.itemsize === 8 && dt.name !== 'float64') arr = Float64Array.from(arr, Number);
        arr.shape = shape;
        arrays.push(arr);
        pos += nbytes;
      }
      if (pos !== payload.length) throw VecbridgeError('the message carries ' + (payload.length - pos) + ' byte(s) after its declared arrays');
      if (arrays.length) header = resolveRefs(header, arrays);
    }
    return header;
  }

  function resolveRefs(value, arrays) {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(function (v) { return resolveRefs(v, arrays); });
    var keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$array') {
      var k = value.$array;
      if (!Number.isInteger(k) || k < 0 || k >= arrays.length) throw VecbridgeError('an array reference ' + JSON.stringify(value) + ' points outside the ' + arrays.length + ' array(s) sent');
      return arrays[k];
    }
    for (var i = 0; i < keys.length; i++) value[keys[i]] = resolveRefs(value[keys[i]], arrays);
    return value;
  }

  /** Check a received action against the action space; Discrete -> number, arrays -> typed arrays. */
  function decodeSpaceValue(space, value, what) {
    switch (space.kind) {
      case 'Discrete':
        if (typeof value !== 'number' || !Number.isInteger(value)) throw ArrayMismatch(what + ': expected ' + describeSpace(space) + ', got ' + describeValue(value));
        return value;
      case 'Dict': {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) throw ArrayMismatch(what + ': expected ' + describeSpace(space) + ', got ' + describeValue(value));
        var out = {};
        for (var i = 0; i < space.keys.length; i++) {
          var k = space.keys[i];
          out[k] = decodeSpaceValue(space.spaces[k], value[k], what + '[' + JSON.stringify(k) + ']');
        }
        return out;
      }
      case 'Tuple':
        if (!Array.isArray(value) || value.length !== space.spaces.length) throw ArrayMismatch(what + ': expected ' + describeSpace(space) + ', got ' + describeValue(value));
        return space.spaces.map(function (sub, j) { return decodeSpaceValue(sub, value[j], what + '[' + j + ']'); });
      default:
        if (!isTypedArray(value) || value.length !== space.size) throw ArrayMismatch(what + ': expected ' + describeSpace(space) + ', got ' + describeValue(value));
        return value;
    }
  }

  // ------------------------------------------------------------------ parameters

  function readConfig(text, where) {
    if (text === undefined || text === null || text === '') return {};
    if (typeof text === 'object') return text;
    try { return JSON.parse(text); } catch (e) { throw VecbridgeError(where + ' is not valid JSON: ' + e.message); }
  }

  /**
   * Where to connect and who we are: explicit `opts` first, then (Node) the VECBRIDGE_*
   * environment variables or (browser) the page's query string vecbridge_* parameters.
   */
  function connectParams(opts) {
    opts = opts || {};
    var src = {}, sourceName;
    if (isNode) {
      var env = process.env;
      src = { host: env.VECBRIDGE_HOST, port: env.VECBRIDGE_PORT, instance: env.VECBRIDGE_INSTANCE, token: env.VECBRIDGE_TOKEN, config: env.VECBRIDGE_CONFIG, framing: env.VECBRIDGE_FRAMING };
      sourceName = function (k) { return 'the environment variable VECBRIDGE_' + k.toUpperCase(); };
    } else {
      if (root.location && typeof root.location.search === 'string') {
        var q = new URLSearchParams(root.location.search);
        ['host', 'port', 'instance', 'token', 'config'].forEach(function (k) {
          var v = q.get('vecbridge_' + k);
          if (v !== null) src[k] = v;
        });
      }
      sourceName = function (k) { return 'the URL parameter vecbridge_' + k; };
    }
    function pick(k) { return opts[k] !== undefined && opts[k] !== null ? opts[k] : src[k]; }
    function need(k) {
      var v = pick(k);
      if (v === undefined || v === '') {
        throw VecbridgeError(sourceName(k) + ' is not set: this game is meant to be launched by vecbridge (or pass ' + k + ' to serve())');
      }
      return v;
    }
    var port = Number(need('port')), instance = Number(need('instance'));
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw VecbridgeError('bad vecbridge port ' + JSON.stringify(pick('port')) + ' (' + sourceName('port') + ')');
    if (!Number.isInteger(instance) || instance < 0) throw VecbridgeError('bad vecbridge instance ' + JSON.stringify(pick('instance')) + ' (' + sourceName('instance') + ')');
    return {
      host: String(pick('host') || '127.0.0.1'),
      port: port,
      instance: instance,
      token: String(need('token')),
      config: readConfig(pick('config'), sourceName('config')),
      framing: pick('framing')
    };
  }

  // ------------------------------------------------------------------ the session

  function errorText(err) {
    if (err instanceof Error) return { message: (err.name || 'Error') + ': ' + err.message, traceback: String(err.stack || '') };
    var text;
    try { text = typeof err === 'string' ? err : JSON.stringify(err); } catch (e) { text = String(err); }
    return { message: 'Error: ' + text, traceback: '' };
  }

  function isThenable(v) { return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function'; }

  function resetParts(r) {
    if (Array.isArray(r) && r.length === 2 && (r[1] === null || r[1] === undefined || typeof r[1] === 'object')) return r;
    if (r !== null && typeof r === 'object' && !Array.isArray(r) && 'observation' in r) return [r.observation, r.info];
    throw new TypeError('reset() must return {observation, info} or [observation, info], got ' + describeValue(r));
  }

  function stepParts(r) {
    if (Array.isArray(r) && r.length === 5) return r;
    if (r !== null && typeof r === 'object' && !Array.isArray(r) && 'observation' in r) return [r.observation, r.reward, r.terminated, r.truncated, r.info];
    throw new TypeError('step() must return {observation, reward, terminated, truncated, info} or a list of those 5, got ' + describeValue(r));
  }

  function checkReward(reward) {
    if (typeof reward === 'bigint') reward = Number(reward);
    if (typeof reward !== 'number' || !Number.isFinite(reward)) {
      throw new TypeError('step(): reward must be a finite number, got ' + describeValue(reward));
    }
    return reward;
  }

  /**
   * The protocol state machine of one connection, independent of the transport.
   * transport: {send(bytes: Uint8Array, start, end), close(), alloc(size) -> Uint8Array holder}.
   */
  function Session(game, params, opts) {
    this.game = game;
    this.params = params;
    this.opts = opts;
    this.instance = params.instance;
    this.config = params.config;
    this.declared = [spaceDecl(game, 'observationSpace', 'observation_space'), spaceDecl(game, 'actionSpace', 'action_space')];
    this.observationSpace = parseSpace(this.declared[0]);
    this.actionSpace = parseSpace(this.declared[1]);
    this.transport = null;
    this.welcomed = false;
    this.busy = false;
    this.queue = [];
    this.eof = false;
    this.finished = false;
    this.holder = { bytes: new Uint8Array(1024) };
    this.renderStage = null;
    this.decodeOpts = { int64: opts.int64 === 'number' ? 'number' : 'bigint' };
    this.log = opts.log || function (msg) { console.error(msg); };
    var self = this;
    this.done = new Promise(function (resolve, reject) { self._resolve = resolve; self._reject = reject; });
  }

  function spaceDecl(game, camel, snake) {
    var v = game[camel] !== undefined ? game[camel] : game[snake];
    if (v === undefined || v === null) throw SpaceError('the game has no ' + camel + ' (a type string, a list of them, or a JSON space description)');
    return v;
  }

  Session.prototype.hello = function () {
    var g = this.game;
    var name = g.name !== undefined ? g.name : (g.constructor && g.constructor !== Object ? g.constructor.name : '');
    var header = {
      type: 'hello', version: PROTOCOL_VERSION, instance: this.params.instance, token: this.params.token,
      observation_space: this.declared[0],
      action_space: this.declared[1],
      name: String(name || ''),
      metadata: g.metadata || {}
    };
    // a game that declares its allowed actions sends them with every result (protocol.md, "Action masks")
    this.masked = !!(g.metadata && g.metadata.action_mask === true);
    this._send(header, []);
  };

  Session.prototype._send = function (header, arrays) {
    var holder = this.holder;
    if (!this.transport.canReuse()) holder = { bytes: new Uint8Array(holder.bytes.length) };
    var end = encodeInto(holder, header, arrays);
    this.transport.send(holder.bytes, end);
  };

  Session.prototype._sendError = function (request, err) {
    var t = errorText(err);
    this.log('vecbridge: the game failed to answer ' + JSON.stringify(request) + ': ' + (t.traceback || t.message));
    this._send({ type: 'error', message: t.message, traceback: t.traceback }, []);
  };

  /** One payload from the transport. */
  Session.prototype.receive = function (payload) {
    if (this.finished) return;
    var msg;
    try {
      msg = decodeMessage(payload, this.decodeOpts);
    } catch (e) {
      this._fail(VecbridgeError('vecbridge sent an invalid message: ' + e.message));
      return;
    }
    if (this.busy) this.queue.push(msg);
    else this._dispatch(msg);
  };

  /** The connection ended. */
  Session.prototype.receiveEof = function () {
    this.eof = true;
    if (!this.busy) this._finish();
  };

  Session.prototype._dispatch = function (msg) {
    var type = msg.type;
    if (!this.welcomed) {
      if (type !== 'welcome') return this._fail(VecbridgeError("expected a 'welcome' after the hello, got " + JSON.stringify(type)));
      if (msg.version !== PROTOCOL_VERSION) return this._fail(VecbridgeError('vecbridge speaks protocol version ' + msg.version + ', this client ' + PROTOCOL_VERSION));
      this.welcomed = true;
      if (msg.config && typeof msg.config === 'object') this.config = msg.config;
      return;
    }
    if (type === 'close') return this._finish();
    var result;
    try {
      result = this._invoke(msg);
    } catch (e) {
      return this._sendError(type, e);
    }
    if (isThenable(result)) {
      var self = this;
      this.busy = true;
      result.then(function (value) {
        self._reply(msg, value);
      }, function (err) {
        self._sendError(type, err);
      }).then(function () {
        self.busy = false;
        self._drain();
      }, function (err) { self._fail(err); });
    } else {
      this._reply(msg, result);
    }
  };

  Session.prototype._drain = function () {
    while (!this.busy && this.queue.length && !this.finished) this._dispatch(this.queue.shift());
    if (!this.busy && this.eof) this._finish();
  };

  Session.prototype._invoke = function (msg) {
    var g = this.game;
    switch (msg.type) {
      case 'reset': return g.reset(msg.seed === undefined ? null : msg.seed, msg.options === undefined ? null : msg.options);
      case 'step': return g.step(decodeSpaceValue(this.actionSpace, msg.action, 'action'));
      case 'render': return typeof g.render === 'function' ? g.render() : null;
      case 'call': return this._call(msg.name, msg.args || [], msg.kwargs || {});
      default: throw VecbridgeError('unknown request type ' + JSON.stringify(msg.type));
    }
  };

  Session.prototype._call = function (name, args, kwargs) {
    var g = this.game;
    if (name === '__getattr__') {
      var attr = args[0];
      if (!(attr in Object(g))) throw attributeError(attr);
      var value = g[attr];
      if (typeof value === 'function') throw new TypeError('the attribute ' + JSON.stringify(attr) + ' is a method; use call(' + JSON.stringify(attr) + ', ...)');
      return value;
    }
    if (name === '__setattr__') {
      if (typeof args[0] !== 'string' || args[0] === '__proto__') throw new TypeError('cannot set the attribute ' + JSON.stringify(args[0]));
      g[args[0]] = args[1];
      return null;
    }
    if (typeof name !== 'string' || name === '__proto__' || name === 'constructor' || !(name in Object(g))) throw attributeError(name);
    var fn = g[name];
    if (typeof fn !== 'function') return fn;
    var list = args.slice();
    if (kwargs && Object.keys(kwargs).length) list.push(kwargs);
    return fn.apply(g, list);
  };

  function attributeError(name) {
    var err = new Error('the game has no method or attribute ' + JSON.stringify(name));
    err.name = 'AttributeError';
    return err;
  }

  Session.prototype._reply = function (msg, value) {
    var arrays = [], header;
    try {
      switch (msg.type) {
        case 'reset': {
          var r = resetParts(value);
          header = {
            type: 'reset_result',
            observation: encodeSpaceValue(this.observationSpace, r[0], arrays, 'reset(): observation'),
            info: encodeInfo(r[1], arrays, 'reset()')
          };
          if (this.masked) header.action_mask = encodeMask(value, arrays, 'reset()');
          break;
        }
        case 'step': {
          var s = stepParts(value);
          header = {
            type: 'step_result',
            observation: encodeSpaceValue(this.observationSpace, s[0], arrays, 'step(): observation'),
            reward: checkReward(s[1]),
            terminated: !!s[2],
            truncated: !!s[3],
            info: encodeInfo(s[4], arrays, 'step()')
          };
          if (this.masked) header.action_mask = encodeMask(value, arrays, 'step()');
          break;
        }
        case 'render':
          header = { type: 'render_result', frame: this._frame(value, arrays) };
          if (this.renderFormat) header.pixel_format = this.renderFormat;
          break;
        default:
          header = { type: 'call_result', value: encodeFree(value, arrays, 0) };
      }
    } catch (e) {
      return this._sendError(msg.type, e);
    }
    this._send(header, arrays);
  };

  /**
   * render(): null, {data, height, width} (RGB, or RGBA such as ImageData), an NDArray [H, W, 3], or
   * {data, height, width, pixel_format} with the bytes in a pixel format (rgbx, bgrx, xrgb, png;
   * snake case: ImageData has a pixelFormat of its own).
   */
  Session.prototype._frame = function (value, arrays) {
    this.renderFormat = null;
    if (value === null || value === undefined) return null;
    var h, w, data;
    if (typeof value === 'object' && value.pixel_format !== undefined && value.pixel_format !== 'rgb') {
      var format = value.pixel_format;
      if (!Object.prototype.hasOwnProperty.call(PIXEL_FORMATS, format) || format === 'palette') {
        throw new TypeError('render(): unknown pixel_format ' + JSON.stringify(format) + '; expected rgb, rgbx, bgrx, xrgb or png');
      }
      var shape = wireShape(format, value.height, value.width);
      var bytes = pixelBytes(value.data, shape === null ? null : product(shape), describePixels(format, shape), 'render()');
      arrays.push(bytes, { dtype: 'uint8', shape: shape || [bytes.length] });
      this.renderFormat = format;
      return { $array: arrays.length / 2 - 1 };
    }
    if (value instanceof NDArray) {
      if (value.shape.length !== 3 || value.shape[2] !== 3) throw ArrayMismatch('render(): expected a frame of shape [H, W, 3], got shape ' + JSON.stringify(value.shape));
      h = value.shape[0]; w = value.shape[1]; data = value.data;
    } else if (typeof value === 'object' && value.data !== undefined) {
      h = value.height; w = value.width; data = value.data;
      if (value.shape !== undefined && (h === undefined || w === undefined)) { h = value.shape[0]; w = value.shape[1]; }
    } else {
      throw new TypeError('render() must return null or {data, height, width} (a Uint8Array of height*width*3 RGB or *4 RGBA bytes), got ' + describeValue(value));
    }
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) throw new TypeError('render(): height and width must be non-negative integers, got ' + h + ' and ' + w);
    var leaf = this.renderStage;
    if (!leaf || leaf.shape[0] !== h || leaf.shape[1] !== w) leaf = this.renderStage = arrayLeaf('Box', 'uint8', [h, w, 3]);
    if (isTypedArray(data) && data.BYTES_PER_ELEMENT === 1 && data.length === h * w * 4 && h * w > 0) { // RGBA: as rgbx, no copy
      arrays.push(pixelBytes(data, h * w * 4, 'RGBA bytes', 'render()'), { dtype: 'uint8', shape: [h, w, 4] });
      this.renderFormat = 'rgbx';
      return { $array: arrays.length / 2 - 1 };
    }
    arrays.push(leafArray(leaf, data, 'render(): frame'), leaf.desc);
    return { $array: arrays.length / 2 - 1 };
  };

  Session.prototype._finish = function () {
    if (this.finished) return;
    this.finished = true;
    var self = this, g = this.game;
    var closing;
    try {
      closing = typeof g.close === 'function' ? g.close() : null;
    } catch (e) {
      this.log('vecbridge: game.close() failed: ' + (e && e.stack || e));
    }
    Promise.resolve(closing).catch(function (e) {
      self.log('vecbridge: game.close() failed: ' + (e && e.stack || e));
    }).then(function () {
      self.transport.close();
      self._resolve(self);
    });
  };

  Session.prototype._fail = function (err) {
    if (this.finished) return;
    this.finished = true;
    this.log('vecbridge: ' + (err && err.stack || err));
    try { this.transport.close(); } catch (e) { /* already closed */ }
    this._reject(err);
  };

  // ------------------------------------------------------------------ transports

  /** Node: TCP or a Unix-domain socket, with the binary framing (u32 LE length + payload). */
  function nodeTransport(session, params, opts, onOpen, onError) {
    var net = require('net');
    var maxSize = opts.maxFrameSize || DEFAULT_MAX_FRAME;
    // a Unix-domain socket when vecbridge offers one (VECBRIDGE_SOCKET): other users cannot reach it
    var path = opts.socket !== undefined ? opts.socket : process.env.VECBRIDGE_SOCKET;
    var where = path ? path : params.host + ':' + params.port;
    var sock = net.connect(path ? { path: path } : { host: params.host, port: params.port });
    var connected = false;
    sock.setNoDelay(true); // (a no-op on a Unix-domain socket)
    // incremental frame parser: frames may arrive split over chunks or several in one chunk
    var head = new Uint8Array(4), headHave = 0, body = null, bodyHave = 0;
    function feed(chunk) {
      var off = 0, n = chunk.length, len;
      while (off < n && !session.finished) {
        if (body === null) {
          if (headHave === 0 && n - off >= 4) {
            len = readU32(chunk, off);
            off += 4;
          } else {
            while (headHave < 4 && off < n) head[headHave++] = chunk[off++];
            if (headHave < 4) return;
            headHave = 0;
            len = readU32(head, 0);
          }
          if (len > maxSize) {
            session._fail(VecbridgeError('vecbridge announced a frame of ' + len + ' bytes, above the maximum of ' + maxSize));
            return;
          }
          if (n - off >= len) { // the whole payload is in this chunk
            session.receive(chunk.subarray(off, off + len));
            off += len;
            continue;
          }
          body = new Uint8Array(len);
          bodyHave = 0;
        }
        var take = Math.min(body.length - bodyHave, n - off);
        body.set(chunk.subarray(off, off + take), bodyHave);
        bodyHave += take;
        off += take;
        if (bodyHave === body.length) {
          var payload = body;
          body = null;
          session.receive(payload);
        }
      }
    }
    sock.on('connect', function () { connected = true; onOpen(); });
    sock.on('data', feed);
    sock.on('end', function () { session.receiveEof(); });
    sock.on('close', function () { if (connected) session.receiveEof(); });
    sock.on('error', function (err) {
      if (!connected) onError(VecbridgeError('could not connect to vecbridge at ' + where + ': ' + err.message));
      else session.receiveEof();
    });
    return {
      canReuse: function () { return sock.writableLength === 0; },
      send: function (bytes, end) { sock.write(Buffer.from(bytes.buffer, bytes.byteOffset, end)); },
      close: function () { sock.destroy(); }
    };
  }

  /**
   * Node without a global WebSocket (Node 18, Node 20 without --experimental-websocket): the
   * `ws` npm package, from $VECBRIDGE_NPM_WS (vecbridge's node_spec(framing="websocket")
   * fetches it, pinned and integrity-checked) or wherever require('ws') finds it. null if none.
   */
  function nodeWebSocketPackage() {
    var places = [process.env.VECBRIDGE_NPM_WS, 'ws'];
    for (var i = 0; i < places.length; i++) {
      if (!places[i]) continue;
      try {
        var mod = require(places[i]);
        return typeof mod.WebSocket === 'function' ? mod.WebSocket : mod;
      } catch (e) { /* try the next place */ }
    }
    return null;
  }

  /** Browser, Node >= 22, or Node with the `ws` package: a WebSocket, one binary message per payload. */
  function webSocketTransport(session, params, opts, onOpen, onError) {
    var WS = opts.WebSocket || root.WebSocket || (isNode ? nodeWebSocketPackage() : null);
    if (typeof WS !== 'function') {
      throw VecbridgeError('no WebSocket implementation here: this Node has no global WebSocket (Node 22 has one; ' +
        'Node 20.10+ with --experimental-websocket) and the ws package is not found ($VECBRIDGE_NPM_WS, or ' +
        "require('ws'); vecbridge's node_spec(framing=\"websocket\") provides it), or use the binary framing");
    }
    var host = params.host.indexOf(':') >= 0 ? '[' + params.host + ']' : params.host;
    var url = opts.url || 'ws://' + host + ':' + params.port + '/';
    var ws = new WS(url);
    var opened = false;
    ws.binaryType = 'arraybuffer';
    ws.onopen = function () { opened = true; onOpen(); };
    ws.onmessage = function (ev) {
      if (typeof ev.data === 'string') {
        session._fail(VecbridgeError('vecbridge sent a text WebSocket message; expected binary messages'));
        return;
      }
      session.receive(new Uint8Array(ev.data));
    };
    ws.onerror = function () {
      if (!opened) onError(VecbridgeError('could not connect to vecbridge at ' + url));
    };
    ws.onclose = function () {
      if (!opened) onError(VecbridgeError('could not connect to vecbridge at ' + url));
      else session.receiveEof();
    };
    return {
      canReuse: function () { return true; }, // send() copies the bytes
      send: function (bytes, end) { ws.send(bytes.subarray(4, end)); },
      close: function () { try { ws.close(); } catch (e) { /* closing already */ } }
    };
  }

  // ------------------------------------------------------------------ serve

  /**
   * Serve `game` to vecbridge until it sends `close` or the connection ends.
   *
   * game: an object (or a class / factory called with the game config) with observationSpace,
   *   actionSpace, reset(seed, options), step(action), optional render(), close(), name, metadata.
   *   Methods may return Promises.
   * opts: host, port, instance, token, config (override the environment / URL),
   *   framing ('binary' | 'websocket'), url (WebSocket URL), int64 ('bigint' | 'number'),
   *   exit (default true: when done, Node exits the process and a browser page closes its window,
   *   which ends a headless browser), log(message), WebSocket.
   * Resolves with the session when the connection is closed.
   */
  function serve(game, opts) {
    opts = opts || {};
    return Promise.resolve().then(function () {
      if (!LITTLE_ENDIAN) throw VecbridgeError('vecbridge needs a little-endian platform');
      var params = connectParams(opts);
      var made = game;
      if (typeof game === 'function') {
        made = game.prototype && typeof game.prototype.step === 'function' ? new game(params.config) : game(params.config);
      }
      return Promise.resolve(made).then(function (g) { return run(g, params, opts); });
    }).then(function (session) {
      api.session = null;
      if (opts.exit !== false) {
        if (isNode) process.exit(0);
        // the page exists for vecbridge: close it (the last tab of a headless browser ends the browser)
        else if (typeof root.close === 'function' && root.top === root) root.close();
      }
      return session;
    }, function (err) {
      api.session = null;
      if (isNode && opts.exit !== false) {
        console.error('vecbridge: ' + (err && err.stack || err));
        process.exit(1);
      }
      throw err;
    });
  }

  function run(game, params, opts) {
    if (game === null || typeof game !== 'object') throw new TypeError('serve(game): game must be an object, a class or a factory, got ' + describeValue(game));
    var session = new Session(game, params, opts);
    var framing = opts.framing || (isNode ? (params.framing === 'websocket' ? 'websocket' : 'binary') : 'websocket');
    var make = framing === 'binary' ? nodeTransport : framing === 'websocket' ? webSocketTransport : null;
    if (!make) throw VecbridgeError('unsupported framing ' + JSON.stringify(framing) + ' (this client speaks binary and websocket)');
    if (framing === 'binary' && !isNode) throw VecbridgeError('the binary framing needs Node; a browser speaks websocket');
    api.session = session;
    session.transport = make(session, params, opts, function () { session.hello(); }, function (err) { session._fail(err); });
    return session.done;
  }

  var api = {
    PROTOCOL_VERSION: PROTOCOL_VERSION,
    serve: serve,
    connectParams: connectParams,
    /** the game config: VECBRIDGE_CONFIG (Node) or vecbridge_config (URL); {} if none */
    gameConfig: function () {
      if (isNode) return readConfig(process.env.VECBRIDGE_CONFIG, 'VECBRIDGE_CONFIG');
      var q = root.location ? new URLSearchParams(root.location.search).get('vecbridge_config') : null;
      return readConfig(q, 'the vecbridge_config URL parameter');
    },
    session: null,
    ndarray: NDArray,
    NDArray: NDArray,
    parseSpace: parseSpace,
    parseTypeString: parseTypeString,
    describeSpace: describeSpace,
    encodeMessage: encodeMessage,
    decodeMessage: decodeMessage,
    encodeSpaceValue: encodeSpaceValue,
    decodeSpaceValue: decodeSpaceValue,
    floatToHalf: floatToHalf,
    halfToFloat: halfToFloat,
    DTYPES: Object.keys(DTYPES),
    PIXEL_FORMATS: Object.keys(PIXEL_FORMATS),
    Session: Session
  };
  return api;
});
