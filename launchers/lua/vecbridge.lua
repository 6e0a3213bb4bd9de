--[[
vecbridge.lua: the Lua game-side client of vecbridge (wire protocol version 1).

Runs unchanged under Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT: plain interpreters with
LuaSocket, FCEUX (Lua 5.1 + LuaSocket) and BizHawk/EmuHawk (Lua 5.4 through
NLua, talking through EmuHawk's own `comm.socketServer*` API). No C module is
needed beyond LuaSocket, and LuaSocket is only loaded when the socket transport
is used.

    local vecbridge = require("vecbridge")
    local game = {
      name = "counter",
      observation_space = "float[4]",      -- gym-bizhawk type string(s) or a JSON-form table
      action_space = "int 0 2",            -- Discrete(3)
    }
    function game:reset(seed, options) ... return obs, info end
    function game:step(action) ... return obs, reward, terminated, truncated, info end
    function game:render() return vecbridge.array("uint8", {h, w, 3}, pixels) end  -- optional
    vecbridge.serve(game)

See launchers/lua/README.md for the whole API and docs/protocol.md for the wire
protocol this file implements.
]]

local M = {}
M.VERSION = "0.1.0"
M.PROTOCOL_VERSION = 1

-- ------------------------------------------------------------------ locals

local type, pairs, ipairs, tostring, tonumber, select, error, pcall =
	type, pairs, ipairs, tostring, tonumber, select, error, pcall
local getmetatable, setmetatable, rawget, next = getmetatable, setmetatable, rawget, next
local string_char, string_byte, string_sub, string_format, string_rep, string_find, string_gsub, string_match =
	string.char, string.byte, string.sub, string.format, string.rep, string.find, string.gsub, string.match
local table_concat = table.concat
local floor, huge, math_abs, math_min = math.floor, math.huge, math.abs, math.min
local unpack = table.unpack or unpack -- luacheck: ignore 143
local spack, sunpack = string.pack, string.unpack -- Lua 5.3+
local math_type = math.type -- Lua 5.3+
local tointeger = math.tointeger -- Lua 5.3+
local HAS_INTEGERS = math_type ~= nil
local ldexp = math.ldexp or function(m, e)
	local h = floor(e / 2)
	return m * 2.0 ^ h * 2.0 ^ (e - h) -- in two factors: 2^e alone over/underflows at the extremes
end
local frexp = math.frexp or function(x)
	if x == 0 or x ~= x or x == huge or x == -huge then return x, 0 end
	local e = floor(math.log(math_abs(x), 2)) + 1
	local h = floor(e / 2)
	local m = x * 2.0 ^ (-h) * 2.0 ^ (h - e) -- in two factors: 2^-e alone over/underflows at the extremes
	while math_abs(m) >= 1 do m = m / 2; e = e + 1 end
	while math_abs(m) < 0.5 do m = m * 2; e = e - 1 end
	return m, e
end

local ffi
if rawget(_G, "jit") then
	local ok, lib = pcall(require, "ffi")
	if ok and lib.abi("le") then ffi = lib end
end

-- Chunk size for unpack()/string.char()/string.byte() with many values (stack limits).
local CHUNK = 4096

local function fail(msg, level)
	error(msg, level or 0)
end

-- ------------------------------------------------------------------ sentinels and markers

--- JSON null (a `null` inside a received list or object; send it to write `null`).
M.null = setmetatable({}, { __tostring = function() return "vecbridge.null" end, __jsontype = "null" })
local NULL = M.null

local JSON_ARRAY_MT = { __jsontype = "array" }
local JSON_OBJECT_MT = { __jsontype = "object" }

--- Mark a table to be encoded as a JSON list (also when empty): `vecbridge.json_array({})` is `[]`.
function M.json_array(t) return setmetatable(t or {}, JSON_ARRAY_MT) end
--- Mark a table to be encoded as a JSON object (also when empty): `vecbridge.json_object()` is `{}`.
function M.json_object(t) return setmetatable(t or {}, JSON_OBJECT_MT) end

-- ------------------------------------------------------------------ dtypes

-- kind: "b" bool, "i" signed int, "u" unsigned int, "f" float
local DTYPES = {
	bool = { size = 1, kind = "b", code = "B", lo = 0, hi = 1 },
	int8 = { size = 1, kind = "i", code = "b", lo = -128, hi = 127 },
	uint8 = { size = 1, kind = "u", code = "B", lo = 0, hi = 255 },
	int16 = { size = 2, kind = "i", code = "i2", lo = -32768, hi = 32767 },
	uint16 = { size = 2, kind = "u", code = "I2", lo = 0, hi = 65535 },
	int32 = { size = 4, kind = "i", code = "i4", lo = -2147483648, hi = 2147483647 },
	uint32 = { size = 4, kind = "u", code = "I4", lo = 0, hi = 4294967295 },
	int64 = { size = 8, kind = "i", code = "i8", lo = -2.0 ^ 63, hi = 2.0 ^ 63 },
	uint64 = { size = 8, kind = "u", code = "I8", lo = 0, hi = 2.0 ^ 64 },
	float16 = { size = 2, kind = "f" },
	float32 = { size = 4, kind = "f", code = "f" },
	float64 = { size = 8, kind = "f", code = "d" },
}
for name, dt in pairs(DTYPES) do dt.name = name end
M.dtypes = DTYPES

local FFI_TYPES = {
	int8 = "int8_t", uint8 = "uint8_t", int16 = "int16_t", uint16 = "uint16_t", int32 = "int32_t",
	uint32 = "uint32_t", int64 = "int64_t", uint64 = "uint64_t", float32 = "float", float64 = "double",
}

local function get_dtype(name, what)
	local dt = DTYPES[name]
	if not dt then
		fail((what or "dtype") .. ": unsupported dtype " .. tostring(name) ..
			"; expected one of bool, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float16, float32, float64")
	end
	return dt
end

local function shape_str(shape)
	local parts = {}
	for i = 1, #shape do parts[i] = tostring(shape[i]) end
	return "[" .. table_concat(parts, ", ") .. "]"
end

local function shape_count(shape)
	local n = 1
	for i = 1, #shape do n = n * shape[i] end
	return n
end

local function describe(v)
	local tv = type(v)
	if tv == "string" then
		if #v > 40 then return string_format("a string of %d bytes", #v) end
		return string_format("the string %q", v)
	elseif tv == "table" then
		if v == NULL then return "null" end
		return "a table" .. (#v > 0 and (" of " .. #v .. " items") or "")
	elseif tv == "number" then
		return tostring(v)
	end
	return tostring(v) .. (tv ~= "nil" and tv ~= "boolean" and (" (" .. tv .. ")") or "")
end

-- ------------------------------------------------------------------ byte helpers

-- bytes (a table of integers 0..255, 1-based) -> string
local function bytes_to_string(b, n)
	if n <= CHUNK then return string_char(unpack(b, 1, n)) end
	local parts, k = {}, 0
	for i = 1, n, CHUNK do
		k = k + 1
		parts[k] = string_char(unpack(b, i, math_min(i + CHUNK - 1, n)))
	end
	return table_concat(parts)
end

local function u32le(n)
	return string_char(n % 256, floor(n / 256) % 256, floor(n / 65536) % 256, floor(n / 16777216) % 256)
end

local function read_u32le(s, pos)
	local a, b, c, d = string_byte(s, pos, pos + 3)
	return a + b * 256 + c * 65536 + d * 16777216
end

-- ------------------------------------------------------------------ IEEE 754 (pure Lua)

local function round_even(x) -- x >= 0
	local r = floor(x + 0.5)
	if r - x == 0.5 and r % 2 == 1 then r = r - 1 end
	return r
end

-- sign, biased exponent, mantissa of v for a format with `mbits` mantissa bits and bias `bias`
-- (maxexp = all-ones exponent). Rounds to nearest even; overflows to infinity.
local function float_fields(v, mbits, bias, maxexp)
	local sign = 0
	if v ~= v then return 0, maxexp, 2 ^ (mbits - 1) end -- quiet NaN
	if v < 0 or (v == 0 and 1 / v < 0) then sign = 1; v = -v end
	if v == huge then return sign, maxexp, 0 end
	if v == 0 then return sign, 0, 0 end
	local m, e = frexp(v) -- v = m * 2^e, 0.5 <= m < 1
	local E = e - 1 + bias
	local mant
	local scale = 2 ^ mbits
	if E <= 0 then -- subnormal
		mant = round_even(ldexp(v, bias - 1 + mbits))
		E = 0
		if mant >= scale then E = 1; mant = mant - scale end
	else
		mant = round_even((m * 2 - 1) * scale)
		if mant >= scale then mant = 0; E = E + 1 end
		if E >= maxexp then return sign, maxexp, 0 end
	end
	return sign, E, mant
end

local function f32_bytes(v, b, k)
	local sign, E, mant = float_fields(v, 23, 127, 255)
	b[k + 1] = mant % 256
	b[k + 2] = floor(mant / 256) % 256
	b[k + 3] = floor(mant / 65536) + (E % 2) * 128
	b[k + 4] = floor(E / 2) + sign * 128
end

local function f64_bytes(v, b, k)
	local sign, E, mant = float_fields(v, 52, 1023, 2047)
	local lo = mant % 4294967296
	local hi = floor(mant / 4294967296) + E * 1048576 + sign * 2147483648
	b[k + 1] = lo % 256
	b[k + 2] = floor(lo / 256) % 256
	b[k + 3] = floor(lo / 65536) % 256
	b[k + 4] = floor(lo / 16777216)
	b[k + 5] = hi % 256
	b[k + 6] = floor(hi / 256) % 256
	b[k + 7] = floor(hi / 65536) % 256
	b[k + 8] = floor(hi / 16777216)
end

local function f16_bytes(v, b, k)
	local sign, E, mant = float_fields(v, 10, 15, 31)
	local w = sign * 32768 + E * 1024 + mant
	b[k + 1] = w % 256
	b[k + 2] = floor(w / 256)
end

local function float_from_fields(sign, E, mant, mbits, bias, maxexp)
	local v
	if E == maxexp then
		if mant == 0 then v = huge else v = 0 / 0 end
	elseif E == 0 then
		v = ldexp(mant, 1 - bias - mbits)
	else
		v = ldexp(mant + 2 ^ mbits, E - bias - mbits)
	end
	if sign == 1 then v = -v end
	return v
end

-- ------------------------------------------------------------------ packing arrays

local fmt_cache = {}
local function fmt_for(code, n)
	local key = code .. ":" .. n
	local f = fmt_cache[key]
	if not f then
		f = "<" .. string_rep(code, n)
		fmt_cache[key] = f
	end
	return f
end

-- why value v does not fit dtype dt (nil when it does)
local function bad_value(dt, v)
	local tv = type(v)
	if dt.kind == "b" then
		if v == true or v == false or v == 0 or v == 1 then return nil end
		return "expected a bool (true/false or 0/1)"
	end
	if tv ~= "number" then return "expected a number" end
	if dt.kind == "f" then return nil end
	if v ~= v or v == huge or v == -huge or v ~= floor(v) then
		return "expected an integer for " .. dt.name
	end
	if v < dt.lo or v > dt.hi or (dt.size == 8 and v >= dt.hi) then
		return string_format("out of range for %s [%s, %s]", dt.name,
			dt.size == 8 and (dt.kind == "i" and "-2^63" or "0") or string_format("%d", dt.lo),
			dt.size == 8 and (dt.kind == "i" and "2^63-1" or "2^64-1") or string_format("%d", dt.hi))
	end
	return nil
end

local function raise_bad(dt, t, n, what, fallback)
	for i = 1, n do
		local reason = bad_value(dt, t[i])
		if reason then
			fail(string_format("%s: item %d is %s: %s", what or "array", i, describe(t[i]), reason))
		end
	end
	fail(string_format("%s: cannot pack as %s: %s", what or "array", dt.name, tostring(fallback)))
end

local function all_fit(lo, hi, t, n)
	for i = 1, n do
		local v = t[i]
		if not (v >= lo and v <= hi and v % 1 == 0) then return false end -- NaN fails too
	end
	return true
end

local function all_fit_below(lo, hi, t, n) -- 64-bit: hi (2^63 or 2^64) itself does not fit
	for i = 1, n do
		local v = t[i]
		if not (v >= lo and v < hi and v % 1 == 0) then return false end
	end
	return true
end

local function check_all(dt, t, n, what)
	local ok, fits = pcall(dt.size == 8 and all_fit_below or all_fit, dt.lo, dt.hi, t, n) -- a non-number raises
	if not (ok and fits) then raise_bad(dt, t, n, what) end
end

local function pack_with_string_pack(code, t, n)
	if n <= CHUNK then return spack(fmt_for(code, n), unpack(t, 1, n)) end
	local parts, k = {}, 0
	for i = 1, n, CHUNK do
		local j = math_min(i + CHUNK - 1, n)
		k = k + 1
		parts[k] = spack(fmt_for(code, j - i + 1), unpack(t, i, j))
	end
	return table_concat(parts)
end

local function pack_pure(dt, t, n)
	local b, k = {}, 0
	local name, size = dt.name, dt.size
	if name == "float32" then
		for i = 1, n do
			local v = t[i]
			local m, e = frexp(v)
			-- normal, finite, nonzero values: the fast path; the rest through f32_bytes
			if v - v == 0 and e > -125 and e < 129 and v ~= 0 then -- v - v is NaN for NaN and infinities
				local sign = 0
				if m < 0 then m = -m; sign = 128 end
				local x = (m * 2 - 1) * 8388608
				local mant = floor(x + 0.5)
				if mant - x == 0.5 and mant % 2 == 1 then mant = mant - 1 end
				local E = e + 126
				if mant >= 8388608 then mant = 0; E = E + 1 end
				if E >= 255 then
					f32_bytes(v, b, k)
				else
					b[k + 1] = mant % 256
					b[k + 2] = floor(mant / 256) % 256
					b[k + 3] = floor(mant / 65536) + (E % 2) * 128
					b[k + 4] = floor(E / 2) + sign
				end
			else
				f32_bytes(v, b, k)
			end
			k = k + 4
		end
	elseif name == "float64" then
		for i = 1, n do f64_bytes(t[i], b, k); k = k + 8 end
	elseif name == "float16" then
		for i = 1, n do f16_bytes(t[i], b, k); k = k + 2 end
	elseif size == 1 then
		for i = 1, n do
			local v = t[i]
			if v < 0 then v = v + 256 end
			b[i] = v
		end
		k = n
	elseif size == 2 or size == 4 then
		local mod = 2 ^ (8 * size)
		for i = 1, n do
			local v = t[i]
			if v < 0 then v = v + mod end
			for _ = 1, size do
				k = k + 1
				b[k] = v % 256
				v = floor(v / 256)
			end
		end
	else -- 64-bit integers, exact within 2^53
		for i = 1, n do
			local v = t[i]
			local lo = v % 4294967296
			local hi = floor(v / 4294967296) % 4294967296
			b[k + 1] = lo % 256; b[k + 2] = floor(lo / 256) % 256
			b[k + 3] = floor(lo / 65536) % 256; b[k + 4] = floor(lo / 16777216)
			b[k + 5] = hi % 256; b[k + 6] = floor(hi / 256) % 256
			b[k + 7] = floor(hi / 65536) % 256; b[k + 8] = floor(hi / 16777216)
			k = k + 8
		end
	end
	return bytes_to_string(b, k)
end

local function pack_ffi(dt, t, n)
	local buf = ffi.new(FFI_TYPES[dt.name] .. "[?]", n)
	for i = 1, n do buf[i - 1] = t[i] end
	return ffi.string(buf, n * dt.size)
end

--- Pack `n` values of the flat, 1-based table `t` as little-endian `dtype` bytes.
-- Raises a clear error naming the first value that does not fit.
local function pack_values(dt, t, n, what)
	if n == 0 then return "" end
	local kind = dt.kind
	if kind == "b" then
		local b = {}
		for i = 1, n do
			local v = t[i]
			if v == true or v == 1 then b[i] = 1
			elseif v == false or v == 0 then b[i] = 0
			else raise_bad(dt, t, n, what) end
		end
		return bytes_to_string(b, n)
	end
	if kind ~= "f" and not (HAS_INTEGERS and spack) then
		check_all(dt, t, n, what) -- string.char and ffi would truncate silently in Lua 5.1 / LuaJIT
	end
	local ok, result
	if dt.name == "uint8" then
		ok, result = pcall(bytes_to_string, t, n)
	elseif spack and dt.code then
		ok, result = pcall(pack_with_string_pack, dt.code, t, n)
	elseif ffi and FFI_TYPES[dt.name] then
		if kind == "f" then
			for i = 1, n do if type(t[i]) ~= "number" then raise_bad(dt, t, n, what) end end
		end
		ok, result = pcall(pack_ffi, dt, t, n)
	else
		if kind == "f" then
			for i = 1, n do if type(t[i]) ~= "number" then raise_bad(dt, t, n, what) end end
		end
		ok, result = pcall(pack_pure, dt, t, n)
	end
	if not ok then raise_bad(dt, t, n, what, result) end
	return result
end

--- `vecbridge.pack(dtype, values)`: the little-endian bytes of a flat list of numbers.
function M.pack(dtype, values, what)
	return pack_values(get_dtype(dtype), values, #values, what)
end

-- ------------------------------------------------------------------ unpacking arrays

local function unpack_pure(dt, s, pos, n)
	local out = {}
	local size, name = dt.size, dt.name
	local total = n * size
	local b = {}
	for i = 0, total - 1, CHUNK do
		local j = math_min(i + CHUNK, total)
		local chunk = { string_byte(s, pos + i, pos + j - 1) }
		for q = 1, j - i do b[i + q] = chunk[q] end
	end
	local kind = dt.kind
	if kind == "b" then
		for i = 1, n do out[i] = b[i] ~= 0 end
	elseif name == "float32" then
		for i = 1, n do
			local k = (i - 1) * 4
			local b0, b1, b2, b3 = b[k + 1], b[k + 2], b[k + 3], b[k + 4]
			out[i] = float_from_fields(floor(b3 / 128), (b3 % 128) * 2 + floor(b2 / 128),
				(b2 % 128) * 65536 + b1 * 256 + b0, 23, 127, 255)
		end
	elseif name == "float64" then
		for i = 1, n do
			local k = (i - 1) * 8
			local lo = b[k + 1] + b[k + 2] * 256 + b[k + 3] * 65536 + b[k + 4] * 16777216
			local b6, b7 = b[k + 7], b[k + 8]
			local mant = lo + (b[k + 5] + b[k + 6] * 256 + (b6 % 16) * 65536) * 4294967296
			out[i] = float_from_fields(floor(b7 / 128), (b7 % 128) * 16 + floor(b6 / 16), mant, 52, 1023, 2047)
		end
	elseif name == "float16" then
		for i = 1, n do
			local k = (i - 1) * 2
			local b0, b1 = b[k + 1], b[k + 2]
			out[i] = float_from_fields(floor(b1 / 128), floor(b1 / 4) % 32, (b1 % 4) * 256 + b0, 10, 15, 31)
		end
	elseif size == 8 then
		for i = 1, n do
			local k = (i - 1) * 8
			local lo = b[k + 1] + b[k + 2] * 256 + b[k + 3] * 65536 + b[k + 4] * 16777216
			local hi = b[k + 5] + b[k + 6] * 256 + b[k + 7] * 65536 + b[k + 8] * 16777216
			if kind == "i" and hi >= 2147483648 then hi = hi - 4294967296 end
			out[i] = hi * 4294967296 + lo
		end
	else
		local mod = 2 ^ (8 * size)
		local half = mod / 2
		for i = 1, n do
			local k = (i - 1) * size
			local v, mul = 0, 1
			for q = 1, size do v = v + b[k + q] * mul; mul = mul * 256 end
			if kind == "i" and v >= half then v = v - mod end
			out[i] = v
		end
	end
	return out
end

local function unpack_values(dt, s, pos, n)
	if n == 0 then return {} end
	if sunpack and dt.code then
		local out = {}
		for i = 1, n, CHUNK do
			local j = math_min(i + CHUNK - 1, n)
			local vals = { sunpack(fmt_for(dt.code, j - i + 1), s, pos + (i - 1) * dt.size) }
			for q = 1, j - i + 1 do out[i + q - 1] = vals[q] end
		end
		if dt.kind == "b" then
			for i = 1, n do out[i] = out[i] ~= 0 end
		elseif dt.name == "uint64" then
			for i = 1, n do if out[i] < 0 then out[i] = out[i] + 2.0 ^ 64 end end
		end
		return out
	end
	if ffi and FFI_TYPES[dt.name] then
		local p = ffi.cast("const " .. FFI_TYPES[dt.name] .. "*", ffi.cast("const char*", s) + (pos - 1))
		local out = {}
		for i = 1, n do out[i] = tonumber(p[i - 1]) end
		return out
	end
	return unpack_pure(dt, s, pos, n)
end

--- `vecbridge.unpack(dtype, bytes)`: a flat list of the numbers in little-endian `dtype` bytes.
function M.unpack(dtype, bytes)
	local dt = get_dtype(dtype)
	if #bytes % dt.size ~= 0 then
		fail(string_format("vecbridge.unpack: %d bytes is not a whole number of %s items", #bytes, dt.name))
	end
	return unpack_values(dt, bytes, 1, #bytes / dt.size)
end

-- flat list -> nested lists of `shape` (or a single value for shape [])
local function nest(flat, shape)
	local nd = #shape
	if nd == 0 then return flat[1] end
	if nd == 1 then return setmetatable(flat, JSON_ARRAY_MT) end
	local pos = 0
	local function build(d)
		local t = setmetatable({}, JSON_ARRAY_MT)
		if d == nd then
			for i = 1, shape[d] do t[i] = flat[pos + i] end
			pos = pos + shape[d]
		else
			for i = 1, shape[d] do t[i] = build(d + 1) end
		end
		return t
	end
	return build(1)
end

-- ------------------------------------------------------------------ arrays (vecbridge.array)

local ARRAY_MT = { __jsontype = "vecbridge.array" }
ARRAY_MT.__index = ARRAY_MT
ARRAY_MT.__tostring = function(a) return "vecbridge.array(" .. a.dtype .. ", " .. shape_str(a.shape) .. ")" end

local function infer_shape(data)
	local shape, t = {}, data
	while type(t) == "table" and getmetatable(t) ~= ARRAY_MT do
		shape[#shape + 1] = #t
		t = t[1]
	end
	return shape
end

local function normalize_shape(shape, what)
	if type(shape) == "number" then shape = { shape } end
	if type(shape) ~= "table" then fail((what or "shape") .. ": a shape must be a list of integers, got " .. describe(shape)) end
	local out = {}
	for i = 1, #shape do
		local d = shape[i]
		if type(d) ~= "number" or d < 0 or d ~= floor(d) then
			fail((what or "shape") .. ": a shape must be a list of non-negative integers, got item " .. describe(d))
		end
		out[i] = tointeger and tointeger(d) or d
	end
	return setmetatable(out, JSON_ARRAY_MT)
end

--- `vecbridge.array(dtype, shape, data)`: an array that travels as raw bytes.
-- `shape`: a list of integers (or one integer; nil infers it from nested tables);
-- `data`: a flat list of numbers in C order, nested lists, or a string holding the
-- little-endian bytes already (e.g. screen pixels for uint8).
function M.array(dtype, shape, data)
	get_dtype(dtype, "vecbridge.array")
	if shape == nil then
		if type(data) ~= "table" then fail("vecbridge.array: give a shape when the data is not a table") end
		shape = infer_shape(data)
	end
	return setmetatable({ dtype = dtype, shape = normalize_shape(shape, "vecbridge.array"), data = data }, ARRAY_MT)
end

function M.is_array(v) return getmetatable(v) == ARRAY_MT end

-- ------------------------------------------------------------------ raw frames and images (pixel formats)

local RAW_MT = { __jsontype = "vecbridge.raw_frame" }
RAW_MT.__tostring = function() return "vecbridge.raw_frame" end

--- `vecbridge.raw_frame(data)`: a value that travels as a frame of its own right after the message
-- (docs/protocol.md, "Raw frames"): `data` is a byte string, or a function that sends the frame
-- itself (under BizHawk: `comm.socketServerScreenShot`, which sends the screen as PNG bytes).
function M.raw_frame(data)
	if type(data) ~= "string" and type(data) ~= "function" then
		fail("vecbridge.raw_frame: expected a byte string or a function that sends the frame, got " .. describe(data))
	end
	return setmetatable({ data = data }, RAW_MT)
end

-- pixel format -> bytes per pixel on the wire (png: a whole file, any length)
local PIXEL_FORMATS = { rgb = 3, rgbx = 4, bgrx = 4, xrgb = 4, palette = 1, png = false }
M.PIXEL_FORMATS = PIXEL_FORMATS

local VIEW_MT = { __jsontype = "vecbridge.view" }

--- `vecbridge.view(s, first[, last])`: the bytes `s:sub(first, last)` without copying them, for a
-- pixel-format image: `vecbridge.view(gui.gdscreenshot(true), 12)` sends FCEUX's pixels past the
-- gd2 header straight from the screenshot. (In Lua 5.1 each copy of a 240 KiB string costs tens
-- of microseconds, and the garbage collector's work grows with every one.)
function M.view(s, first, last)
	if type(s) ~= "string" then fail("vecbridge.view: expected a string, got " .. describe(s)) end
	first = first or 1
	last = last or #s
	if first < 1 or last > #s or last < first - 1 then
		fail(string_format("vecbridge.view: bytes %d to %d are not inside a string of %d bytes", first, last, #s))
	end
	return setmetatable({ s, first, last }, VIEW_MT)
end

local function view_len(v) return v[3] - v[2] + 1 end

-- the bytes of a string or a view, as a string
local function materialize(p)
	if type(p) == "string" then return p end
	return string_sub(p[1], p[2], p[3])
end

local IMAGE_MT = { __jsontype = "vecbridge.image" }

--- `vecbridge.image(pixel_format, height, width, data)`: a render frame in a pixel format
-- (rgb, rgbx, bgrx, xrgb, palette, png; see docs/protocol.md): `data` holds the wire bytes
-- (a string) or is a vecbridge.raw_frame. vecbridge converts it to RGB.
function M.image(pixel_format, height, width, data, palette)
	if PIXEL_FORMATS[pixel_format] == nil then
		fail("vecbridge.image: unknown pixel format " .. describe(pixel_format) ..
			"; expected rgb, rgbx, bgrx, xrgb, palette or png")
	end
	return setmetatable({ pixel_format = pixel_format, height = height, width = width, data = data, palette = palette },
		IMAGE_MT)
end

-- the wire value of pixel bytes (a string, or a raw frame) as a uint8 array or the raw frame itself
local function pixel_wire(bytes_per_pixel, h, w, data, what, expect)
	local mt = getmetatable(data)
	if mt == RAW_MT then return data end
	if type(data) ~= "string" and mt ~= VIEW_MT then
		fail(string_format("%s: expected %s as a byte string (or a vecbridge.view or vecbridge.raw_frame), got %s",
			what, expect, describe(data)))
	end
	local len = mt == VIEW_MT and view_len(data) or #data
	local shape
	if not bytes_per_pixel then
		shape = { len }
	else
		if len ~= h * w * bytes_per_pixel then
			fail(string_format("%s: expected %d bytes (%s), got a string of %d bytes", what, h * w * bytes_per_pixel, expect, len))
		end
		shape = bytes_per_pixel == 1 and { h, w } or { h, w, bytes_per_pixel }
	end
	return setmetatable({ dtype = "uint8", shape = setmetatable(shape, JSON_ARRAY_MT), bytes = data }, ARRAY_MT)
end

-- flatten nested tables following `shape`, checking each level's length
local function flatten(v, shape, what)
	local out, n = {}, 0
	local nd = #shape
	local idx = {}
	local function where(d)
		local p = {}
		for i = 1, d - 1 do p[i] = "[" .. idx[i] .. "]" end
		return what .. table_concat(p)
	end
	local function rec(t, d)
		local len = shape[d]
		if type(t) ~= "table" then
			fail(string_format("%s: expected a list of %d items (shape %s), got %s", where(d), len, shape_str(shape), describe(t)))
		end
		if #t ~= len then
			fail(string_format("%s: expected %d items (shape %s), got %d", where(d), len, shape_str(shape), #t))
		end
		if d == nd then
			for i = 1, len do n = n + 1; out[n] = t[i] end
		else
			for i = 1, len do idx[d] = i; rec(t[i], d + 1) end
		end
	end
	rec(v, 1)
	return out, n
end

-- the packed bytes of data meant as `count` items of dtype dt with shape `shape`
local function data_bytes(dt, shape, count, data, what, space_desc)
	local nbytes = count * dt.size
	local expect = space_desc or (dt.name .. " array of shape " .. shape_str(shape))
	local tv = type(data)
	if tv == "string" then
		if #data ~= nbytes then
			fail(string_format("%s: expected %d bytes (%s), got a string of %d bytes", what, nbytes, expect, #data))
		end
		return data
	elseif tv == "number" or tv == "boolean" then
		if count ~= 1 then
			fail(string_format("%s: expected %d values (%s), got a single value %s", what, count, expect, tostring(data)))
		end
		return pack_values(dt, { data }, 1, what)
	elseif tv == "table" and data ~= NULL then
		local flat, n = data, #data
		if #shape > 1 and type(data[1]) == "table" then
			flat, n = flatten(data, shape, what)
		elseif n > 0 and type(data[1]) == "table" then
			fail(string_format("%s: expected %d numbers (%s), got nested tables", what, count, expect))
		end
		if n ~= count then
			fail(string_format("%s: expected %d values (%s), got %d", what, count, expect, n))
		end
		return pack_values(dt, flat, n, what)
	end
	fail(string_format("%s: expected %s (a list of numbers, a byte string or vecbridge.array), got %s", what, expect,
		describe(data)))
end

local function array_bytes(a, what)
	if a.bytes then return a.bytes end
	local dt = get_dtype(a.dtype, what)
	return data_bytes(dt, a.shape, shape_count(a.shape), a.data, what)
end

-- ------------------------------------------------------------------ JSON

local ESCAPES = {
	['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for i = 0, 31 do
	local c = string_char(i)
	if not ESCAPES[c] then ESCAPES[c] = string_format("\\u%04x", i) end
end
ESCAPES["\127"] = "\\u007f"
local LATIN1_ESCAPES = {}
for k, v in pairs(ESCAPES) do LATIN1_ESCAPES[k] = v end
for i = 128, 255 do LATIN1_ESCAPES[string_char(i)] = string_format("\\u%04x", i) end

local function valid_utf8(s)
	local utf8lib = rawget(_G, "utf8")
	if utf8lib and utf8lib.len then return utf8lib.len(s) ~= nil end
	local i, n = 1, #s
	while i <= n do
		i = string_find(s, "[\128-\255]", i)
		if not i then return true end
		local c = string_byte(s, i)
		if c >= 0xC2 and c <= 0xDF then
			local c2 = string_byte(s, i + 1)
			if not c2 or c2 < 0x80 or c2 > 0xBF then return false end
			i = i + 2
		elseif c >= 0xE0 and c <= 0xEF then
			local c2, c3 = string_byte(s, i + 1, i + 2)
			if not c3 or c3 < 0x80 or c3 > 0xBF then return false end
			local lo, hi = 0x80, 0xBF
			if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
			if c2 < lo or c2 > hi then return false end
			i = i + 3
		elseif c >= 0xF0 and c <= 0xF4 then
			local c2, c3, c4 = string_byte(s, i + 1, i + 3)
			if not c4 or c3 < 0x80 or c3 > 0xBF or c4 < 0x80 or c4 > 0xBF then return false end
			local lo, hi = 0x80, 0xBF
			if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
			if c2 < lo or c2 > hi then return false end
			i = i + 4
		else
			return false
		end
	end
	return true
end

-- Strings are sent as UTF-8; a string that is not valid UTF-8 is sent as Latin-1 (each byte a code point).
local function encode_string(s)
	if string_find(s, '[%c"\\\128-\255]') then
		if string_find(s, "[\128-\255]") and not valid_utf8(s) then
			s = string_gsub(s, '[%c"\\\128-\255]', LATIN1_ESCAPES)
		else
			s = string_gsub(s, '[%c"\\]', ESCAPES)
		end
	end
	return '"' .. s .. '"'
end

-- nil for NaN and infinities (they have no JSON form)
local function encode_number(x)
	if HAS_INTEGERS and math_type(x) == "integer" then return string_format("%d", x) end
	if x ~= x or x == huge or x == -huge then return nil end
	if not HAS_INTEGERS and x == floor(x) and x > -9.2e18 and x < 9.2e18 then
		return string_format("%.0f", x)
	end
	local s = string_format("%.14g", x)
	if tonumber(s) ~= x then s = string_format("%.17g", x) end
	if string_find(s, ",", 1, true) then s = string_gsub(s, ",", ".") end -- a locale with decimal commas
	if HAS_INTEGERS and not string_find(s, "[%.eEn]") then s = s .. ".0" end -- keep floats floats
	return s
end

-- nil: empty (ambiguous), true: a list 1..n, false: an object
local function is_list(t)
	local n = #t
	if n == 0 then
		if next(t) == nil then return nil end
		return false
	end
	local count = 0
	for k in pairs(t) do
		if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then return false end
		count = count + 1
	end
	return count == n
end

local function path_string(node, key)
	local parts = {}
	local function add(k)
		if type(k) == "number" then
			parts[#parts + 1] = "[" .. k .. "]"
		elseif #parts == 0 and k ~= nil then
			parts[#parts + 1] = tostring(k)
		else
			parts[#parts + 1] = "." .. tostring(k)
		end
	end
	local chain = {}
	while node do chain[#chain + 1] = node; node = node.parent end
	for i = #chain, 1, -1 do add(chain[i].key) end
	if key ~= nil then add(key) end
	return table_concat(parts)
end

-- ctx: nil, or { arrays = {} } collecting vecbridge.array values (sent as {"$array": k})
local function encode_into(v, out, ctx, node, key, depth)
	local tv = type(v)
	if tv == "string" then
		out[#out + 1] = encode_string(v)
	elseif tv == "number" then
		local text = encode_number(v)
		if not text then
			fail(path_string(node, key) .. ": cannot encode " .. tostring(v) ..
				" in JSON (NaN and infinities have no JSON form)")
		end
		out[#out + 1] = text
	elseif tv == "boolean" then
		out[#out + 1] = v and "true" or "false"
	elseif v == nil or v == NULL then
		out[#out + 1] = "null"
	elseif tv == "table" then
		local mt = getmetatable(v)
		if mt == ARRAY_MT then
			if not ctx then fail(path_string(node, key) .. ": an array (vecbridge.array) cannot travel here") end
			local arrays = ctx.arrays
			local k = #arrays
			arrays[k + 1] = { v, path_string(node, key) }
			out[#out + 1] = '{"$array":' .. k .. "}"
			return
		end
		if mt == RAW_MT then
			if not ctx then fail(path_string(node, key) .. ": a raw frame (vecbridge.raw_frame) cannot travel here") end
			local raw = ctx.raw
			raw[#raw + 1] = v.data
			out[#out + 1] = '{"$raw":' .. (#raw - 1) .. "}"
			return
		end
		if depth > 100 then fail(path_string(node, key) .. ": tables nested more than 100 levels deep (a cycle?)") end
		local child = { parent = node, key = key }
		local kind = mt and mt.__jsontype
		if kind == nil then
			local list = is_list(v)
			kind = (list == nil and "object") or (list and "array") or "object"
		end
		if kind == "array" then
			local n = #v
			out[#out + 1] = "["
			for i = 1, n do
				if i > 1 then out[#out + 1] = "," end
				encode_into(v[i], out, ctx, child, i, depth + 1)
			end
			out[#out + 1] = "]"
		else
			out[#out + 1] = "{"
			local first = true
			for k, val in pairs(v) do
				local tk = type(k)
				local ks
				if tk == "string" then
					ks = k
				elseif tk == "number" then
					ks = encode_number(k) or tostring(k)
				else
					fail(path_string(node, key) .. ": JSON object keys must be strings or numbers, got a " .. tk)
				end
				if not first then out[#out + 1] = "," end
				first = false
				out[#out + 1] = encode_string(ks)
				out[#out + 1] = ":"
				encode_into(val, out, ctx, child, k, depth + 1)
			end
			out[#out + 1] = "}"
		end
	else
		fail(path_string(node, key) .. ": cannot encode a " .. tv .. " in JSON")
	end
end

--- `vecbridge.json_encode(value)`: JSON text. Lists (keys 1..n) become JSON lists,
-- other tables objects, an empty table `{}` (use vecbridge.json_array() for `[]`),
-- vecbridge.null `null`.
function M.json_encode(v, what)
	local out = {}
	encode_into(v, out, nil, nil, what, 0)
	return table_concat(out)
end

local UNESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_char(cp)
	if cp < 0x80 then return string_char(cp) end
	if cp < 0x800 then return string_char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
	if cp < 0x10000 then
		return string_char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
	end
	return string_char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64,
		0x80 + cp % 64)
end

local decode_value

local function json_error(s, pos, msg)
	local snippet = string_sub(s, pos, pos + 20)
	fail(string_format("JSON: %s at byte %d (near %q)", msg, pos, snippet))
end

local function skip_ws(s, pos)
	return (string_find(s, "[^ \t\r\n]", pos)) or (#s + 1)
end

local function decode_string(s, pos) -- pos: the opening quote
	local i = pos + 1
	local buf
	while true do
		local j = string_find(s, '["\\]', i)
		if not j then json_error(s, pos, "unterminated string") end
		if string_byte(s, j) == 34 then
			if not buf then return string_sub(s, i, j - 1), j + 1 end
			buf[#buf + 1] = string_sub(s, i, j - 1)
			return table_concat(buf), j + 1
		end
		buf = buf or {}
		buf[#buf + 1] = string_sub(s, i, j - 1)
		local c = string_sub(s, j + 1, j + 1)
		if c == "u" then
			local hex = string_sub(s, j + 2, j + 5)
			if not string_find(hex, "^%x%x%x%x$") then json_error(s, j, "bad \\u escape") end
			local cp = tonumber(hex, 16)
			i = j + 6
			if cp >= 0xD800 and cp <= 0xDBFF and string_sub(s, i, i + 1) == "\\u" then
				local hex2 = string_sub(s, i + 2, i + 5)
				local lo = string_find(hex2, "^%x%x%x%x$") and tonumber(hex2, 16)
				if lo and lo >= 0xDC00 and lo <= 0xDFFF then
					cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
					i = i + 6
				end
			end
			buf[#buf + 1] = utf8_char(cp)
		else
			local r = UNESCAPES[c]
			if not r then json_error(s, j, "bad escape") end
			buf[#buf + 1] = r
			i = j + 2
		end
	end
end

function decode_value(s, pos, depth)
	pos = skip_ws(s, pos)
	local c = string_byte(s, pos)
	if c == 34 then -- "
		return decode_string(s, pos)
	elseif c == 123 then -- {
		if depth > 200 then json_error(s, pos, "nested too deeply") end
		local obj = setmetatable({}, JSON_OBJECT_MT)
		pos = skip_ws(s, pos + 1)
		if string_byte(s, pos) == 125 then return obj, pos + 1 end
		while true do
			if string_byte(s, pos) ~= 34 then json_error(s, pos, "expected a string key") end
			local key
			key, pos = decode_string(s, pos)
			pos = skip_ws(s, pos)
			if string_byte(s, pos) ~= 58 then json_error(s, pos, "expected ':'") end
			local val
			val, pos = decode_value(s, pos + 1, depth + 1)
			obj[key] = val
			pos = skip_ws(s, pos)
			local d = string_byte(s, pos)
			if d == 125 then return obj, pos + 1 end
			if d ~= 44 then json_error(s, pos, "expected ',' or '}'") end
			pos = skip_ws(s, pos + 1)
		end
	elseif c == 91 then -- [
		if depth > 200 then json_error(s, pos, "nested too deeply") end
		local arr = setmetatable({}, JSON_ARRAY_MT)
		pos = skip_ws(s, pos + 1)
		if string_byte(s, pos) == 93 then return arr, pos + 1 end
		local n = 0
		while true do
			local val
			val, pos = decode_value(s, pos, depth + 1)
			n = n + 1
			arr[n] = val
			pos = skip_ws(s, pos)
			local d = string_byte(s, pos)
			if d == 93 then return arr, pos + 1 end
			if d ~= 44 then json_error(s, pos, "expected ',' or ']'") end
			pos = pos + 1
		end
	elseif c == 116 then
		if string_sub(s, pos, pos + 3) == "true" then return true, pos + 4 end
	elseif c == 102 then
		if string_sub(s, pos, pos + 4) == "false" then return false, pos + 5 end
	elseif c == 110 then
		if string_sub(s, pos, pos + 3) == "null" then return NULL, pos + 4 end
	elseif c == 45 or (c and c >= 48 and c <= 57) then
		local text = string_match(s, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
		local num = text and tonumber(text)
		if not num then json_error(s, pos, "bad number") end
		return num, pos + #text
	elseif c == nil then
		json_error(s, pos, "unexpected end of text")
	end
	json_error(s, pos, "unexpected character")
end

--- `vecbridge.json_decode(text)`: Lua values; `null` is vecbridge.null; lists and
-- objects are marked so they encode back as they came (`[]` stays `[]`).
function M.json_decode(s)
	local v, pos = decode_value(s, 1, 0)
	pos = skip_ws(s, pos)
	if pos <= #s then json_error(s, pos, "trailing characters") end
	return v
end

-- ------------------------------------------------------------------ base64 (comm framing)

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_1, B64_2, B64_DEC2, B64_DEC = {}, {}, {}, {}
for i = 0, 63 do
	B64_1[i] = string_sub(B64, i + 1, i + 1)
	B64_DEC[string_byte(B64, i + 1)] = i
end
for i = 0, 4095 do
	local pair = B64_1[floor(i / 64)] .. B64_1[i % 64]
	B64_2[i] = pair
	B64_DEC2[pair] = i
end

function M.base64_encode(s)
	local n = #s
	local out, k = {}, 0
	local full = n - n % 3
	local block_end = full - full % 12
	for i = 1, block_end, 12 do -- four triples per call to string.byte
		local a1, b1, c1, a2, b2, c2, a3, b3, c3, a4, b4, c4 = string_byte(s, i, i + 11)
		out[k + 1] = B64_2[a1 * 16 + floor(b1 / 16)]
		out[k + 2] = B64_2[(b1 % 16) * 256 + c1]
		out[k + 3] = B64_2[a2 * 16 + floor(b2 / 16)]
		out[k + 4] = B64_2[(b2 % 16) * 256 + c2]
		out[k + 5] = B64_2[a3 * 16 + floor(b3 / 16)]
		out[k + 6] = B64_2[(b3 % 16) * 256 + c3]
		out[k + 7] = B64_2[a4 * 16 + floor(b4 / 16)]
		out[k + 8] = B64_2[(b4 % 16) * 256 + c4]
		k = k + 8
	end
	for i = block_end + 1, full, 3 do
		local a, b, c = string_byte(s, i, i + 2)
		local hi = a * 16 + floor(b / 16)
		k = k + 1; out[k] = B64_2[hi]
		k = k + 1; out[k] = B64_2[(b % 16) * 256 + c]
	end
	local rem = n - full
	if rem == 1 then
		k = k + 1; out[k] = B64_2[string_byte(s, n) * 16] .. "=="
	elseif rem == 2 then
		local a, b = string_byte(s, n - 1, n)
		local v = a * 1024 + b * 4
		k = k + 1; out[k] = B64_2[floor(v / 64)] .. B64_1[v % 64] .. "="
	end
	return table_concat(out)
end

function M.base64_decode(s)
	local n = #s
	if n % 4 ~= 0 then fail("base64: the length " .. n .. " is not a multiple of 4") end
	if n == 0 then return "" end
	local pad = 0
	if string_sub(s, -2) == "==" then pad = 2 elseif string_sub(s, -1) == "=" then pad = 1 end
	local b, k = {}, 0
	local body_end = pad > 0 and n - 4 or n
	local D = B64_DEC
	local ok = pcall(function()
		for i = 1, body_end, 4 do
			local c1, c2, c3, c4 = string_byte(s, i, i + 3)
			local v = D[c1] * 262144 + D[c2] * 4096 + D[c3] * 64 + D[c4] -- a non-alphabet byte: nil, raises
			local x = floor(v / 256)
			b[k + 1] = floor(x / 256)
			b[k + 2] = x % 256
			b[k + 3] = v % 256
			k = k + 3
		end
	end)
	if not ok then fail("base64: invalid characters in the text") end
	if pad > 0 then
		local hi = B64_DEC2[string_sub(s, n - 3, n - 2)]
		if not hi then fail("base64: invalid characters near byte " .. (n - 3)) end
		k = k + 1; b[k] = floor(hi / 16)
		if pad == 1 then
			local c = string_find(B64, string_sub(s, n - 1, n - 1), 1, true)
			if not c then fail("base64: invalid character near byte " .. (n - 1)) end
			k = k + 1; b[k] = (hi % 16) * 16 + floor((c - 1) / 4)
		end
	end
	return bytes_to_string(b, k)
end

-- ------------------------------------------------------------------ spaces

local function num_or_nil(text, kind, orig)
	if text == nil then return nil end
	local v
	if text == "inf" or text == "+inf" then v = huge
	elseif text == "-inf" then v = -huge
	elseif string_find(text, "^[-+0-9.eE]+$") then v = tonumber(text) end
	if v == nil or (kind == "int" and (v ~= floor(v) or v == huge or v == -huge)) then
		fail(string_format("invalid type string %q: bounds of '%s' must be %s", orig, kind,
			kind == "int" and "integers" or "numbers"))
	end
	return v
end

-- "int 0 3 [2]" -> { {kind="int", lo=0, hi=3}, {kind="int", lo=0, hi=3} }
local function parse_type_string(text)
	if type(text) ~= "string" then fail("a type string must be a string, got " .. describe(text)) end
	local s = string_match(text, "^%s*(.-)%s*$")
	local body, count = string_match(s, "^(.-)%s*%[%s*(%d+)%s*%]$")
	if body then s = body end
	local kind, rest = string_match(s, "^(%a+)(.*)$")
	local lo, hi
	if rest and rest ~= "" then
		lo, hi = string_match(rest, "^%s+(%S+)%s+(%S+)$")
		if not lo then kind = nil end
	end
	if kind ~= "bool" and kind ~= "int" and kind ~= "float" then
		fail(string_format("invalid type string %q; expected 'bool', 'int', 'int LO HI', 'float' or 'float LO HI', " ..
			"optionally followed by '[N]'", text))
	end
	if kind == "bool" and lo then fail(string_format("invalid type string %q: 'bool' takes no bounds", text)) end
	local lo_v, hi_v = num_or_nil(lo, kind, text), num_or_nil(hi, kind, text)
	if lo_v and hi_v < lo_v then fail(string_format("invalid type string %q: HI is below LO", text)) end
	local item = { kind = kind, lo = lo_v, hi = hi_v }
	local items = {}
	for i = 1, count and tonumber(count) or 1 do items[i] = item end
	return items, count ~= nil
end

local function leaf(kind, dtype, shape)
	local sp = { kind = kind, dtype = dtype }
	sp.shape = normalize_shape(shape)
	sp.count = shape_count(sp.shape)
	sp.dt = DTYPES[dtype]
	sp.expect = "a " .. dtype .. " array of shape " .. shape_str(sp.shape) .. " (" .. kind .. ")"
	sp.array_json = '{"dtype":"' .. dtype .. '","shape":' .. M.json_encode(sp.shape) .. "}"
	return sp
end

local function discrete(n, start)
	local sp = { kind = "Discrete", n = n, start = start or 0 }
	sp.expect = string_format("an integer in [%d, %d] (Discrete(%d))", sp.start, sp.start + n - 1, n)
	return sp
end

local function item_space(item)
	if item.kind == "bool" then return discrete(2, 0) end
	if item.kind == "int" then
		if item.lo == nil then return leaf("Box", "int64", {}) end
		return discrete(item.hi - item.lo + 1, item.lo)
	end
	return leaf("Box", "float32", {})
end

local function space_from_type_strings(list)
	local items, first_has_count = {}, false
	for i = 1, #list do
		local its, has_count = parse_type_string(list[i])
		if i == 1 then first_has_count = has_count end
		for _, it in ipairs(its) do items[#items + 1] = it end
	end
	if #items == 0 then fail("an empty list of type strings declares no space") end
	if #items == 1 and not first_has_count then return item_space(items[1]) end
	local n_discrete = 0
	local any_float = false
	for _, it in ipairs(items) do
		if it.kind == "bool" or (it.kind == "int" and it.lo ~= nil) then n_discrete = n_discrete + 1 end
		if it.kind == "float" then any_float = true end
	end
	if n_discrete == #items then
		return leaf("MultiDiscrete", "int64", { #items })
	elseif n_discrete == 0 then
		return leaf("Box", any_float and "float32" or "int64", { #items })
	end
	local subs = {}
	for i, it in ipairs(items) do subs[i] = item_space(it) end
	return { kind = "Tuple", spaces = subs }
end

local function nested_shape(v, what)
	local shape, t = {}, v
	while type(t) == "table" do
		shape[#shape + 1] = #t
		t = t[1]
	end
	if #shape == 0 then fail(what .. " must be a list, got " .. describe(v)) end
	return shape
end

local parse_space

local function space_from_description(d, what)
	local kind = d.type
	if kind == "Box" then
		local dtype = d.dtype or "float32"
		get_dtype(dtype, what .. " Box")
		local sp = leaf("Box", dtype, normalize_shape(d.shape or {}, what .. " Box 'shape'"))
		local fmt = d.pixel_format
		if fmt ~= nil and fmt ~= "rgb" then
			local shape = sp.shape
			if PIXEL_FORMATS[fmt] == nil then
				fail(what .. ": unknown pixel_format " .. describe(fmt) .. "; expected rgb, rgbx, bgrx, xrgb, palette or png")
			end
			if dtype ~= "uint8" or #shape ~= 3 or shape[3] ~= 3 then
				fail(what .. ": a pixel_format belongs on a uint8 Box of shape [H, W, 3], not " .. sp.expect)
			end
			sp.pixel_format, sp.bytes_per_pixel = fmt, PIXEL_FORMATS[fmt]
			sp.pixel_expect = (sp.bytes_per_pixel and ("uint8 [" .. shape[1] .. ", " .. shape[2] ..
				(sp.bytes_per_pixel > 1 and (", " .. sp.bytes_per_pixel) or "") .. "]") or "a PNG file") ..
				" (pixel_format '" .. fmt .. "')"
		end
		return sp
	elseif kind == "Discrete" then
		local n = tonumber(d.n)
		if not n or n < 1 or n ~= floor(n) then fail(what .. ": Discrete needs a positive integer 'n', got " .. describe(d.n)) end
		return discrete(n, tonumber(d.start) or 0)
	elseif kind == "MultiDiscrete" then
		if type(d.nvec) ~= "table" then fail(what .. ": MultiDiscrete needs a list 'nvec'") end
		return leaf("MultiDiscrete", "int64", nested_shape(d.nvec, what .. " MultiDiscrete 'nvec'"))
	elseif kind == "MultiBinary" then
		return leaf("MultiBinary", "int8", normalize_shape(d.n, what .. " MultiBinary 'n'"))
	elseif kind == "Dict" then
		if type(d.spaces) ~= "table" then fail(what .. ": Dict needs 'spaces', a table of name -> space") end
		local subs, keys = {}, {}
		for k, v in pairs(d.spaces) do
			if type(k) ~= "string" then fail(what .. ": Dict keys must be strings, got " .. describe(k)) end
			subs[k] = parse_space(v, what .. "['" .. k .. "']")
			keys[#keys + 1] = k
		end
		table.sort(keys)
		return { kind = "Dict", spaces = subs, keys = keys }
	elseif kind == "Tuple" then
		if type(d.spaces) ~= "table" then fail(what .. ": Tuple needs 'spaces', a list of spaces") end
		local subs = {}
		for i = 1, #d.spaces do subs[i] = parse_space(d.spaces[i], what .. "[" .. i .. "]") end
		return { kind = "Tuple", spaces = subs }
	end
	fail(what .. ": unknown space type " .. describe(kind) ..
		"; expected Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple")
end

function parse_space(d, what)
	what = what or "space"
	if type(d) == "string" then return space_from_type_strings({ d }) end
	if type(d) ~= "table" then fail(what .. ": expected a type string or a space table, got " .. describe(d)) end
	if d.type == nil and #d > 0 then return space_from_type_strings(d) end
	if d.type == nil then fail(what .. ": a space table needs a 'type' (Box, Discrete, ...) or must be a list of type strings") end
	return space_from_description(d, what)
end

--- `vecbridge.space(description)`: the parsed form of a space (kind, dtype, shape, n, ...).
M.space = parse_space

-- the JSON-ready form of a space description for the hello
local function wire_bound(v)
	if type(v) == "number" then
		if v == huge then return "inf" elseif v == -huge then return "-inf" elseif v ~= v then return "nan" end
		return v
	elseif type(v) == "table" and v ~= NULL then
		local out = setmetatable({}, JSON_ARRAY_MT)
		for i = 1, #v do out[i] = wire_bound(v[i]) end
		return out
	end
	return v
end

local function wire_list(v)
	if type(v) ~= "table" then return v end
	local out = setmetatable({}, JSON_ARRAY_MT)
	for i = 1, #v do out[i] = wire_list(v[i]) end
	return out
end

local function wire_space(d)
	if type(d) == "string" then return d end
	if d.type == nil then return wire_list(d) end
	local out = setmetatable({}, JSON_OBJECT_MT)
	for k, v in pairs(d) do out[k] = v end
	local kind = d.type
	if kind == "Box" then
		out.shape = normalize_shape(d.shape or {})
		out.low, out.high = wire_bound(d.low), wire_bound(d.high)
	elseif kind == "MultiDiscrete" then
		out.nvec, out.start = wire_list(d.nvec), wire_list(d.start)
	elseif kind == "MultiBinary" then
		out.n = wire_list(d.n)
	elseif kind == "Dict" then
		local subs = setmetatable({}, JSON_OBJECT_MT)
		for k, v in pairs(d.spaces) do subs[k] = wire_space(v) end
		out.spaces = subs
	elseif kind == "Tuple" then
		local subs = setmetatable({}, JSON_ARRAY_MT)
		for i = 1, #d.spaces do subs[i] = wire_space(d.spaces[i]) end
		out.spaces = subs
	end
	return out
end

-- ------------------------------------------------------------------ values of a space

local encode_space_value

local function to_int(v)
	if tointeger then return tointeger(v) or v end
	return v
end

-- a value of `space` -> the value to put in a header (vecbridge.array for array leaves)
function encode_space_value(space, v, what)
	local kind = space.kind
	if kind == "Discrete" then
		if v == true then v = 1 elseif v == false then v = 0 end
		if type(v) == "table" and getmetatable(v) == ARRAY_MT and shape_count(v.shape) == 1 and type(v.data) == "table" then
			v = v.data[1]
		end
		if type(v) ~= "number" or v ~= floor(v) or v < space.start or v >= space.start + space.n then
			fail(string_format("%s: expected %s, got %s", what, space.expect, describe(v)))
		end
		return to_int(v)
	elseif kind == "Dict" then
		if type(v) ~= "table" then fail(string_format("%s: expected a table with keys %s, got %s", what,
			table_concat(space.keys, ", "), describe(v))) end
		local out = setmetatable({}, JSON_OBJECT_MT)
		for _, k in ipairs(space.keys) do
			if v[k] == nil then fail(string_format("%s: the key '%s' is missing (expected keys: %s)", what, k,
				table_concat(space.keys, ", "))) end
			out[k] = encode_space_value(space.spaces[k], v[k], what .. "." .. k)
		end
		for k in pairs(v) do
			if space.spaces[k] == nil then
				fail(string_format("%s: the key %s is not in the Dict space (expected keys: %s)", what, describe(k),
					table_concat(space.keys, ", ")))
			end
		end
		return out
	elseif kind == "Tuple" then
		if type(v) ~= "table" or #v ~= #space.spaces then
			fail(string_format("%s: expected a list of %d values (Tuple), got %s", what, #space.spaces, describe(v)))
		end
		local out = setmetatable({}, JSON_ARRAY_MT)
		for i, sub in ipairs(space.spaces) do out[i] = encode_space_value(sub, v[i], what .. "[" .. i .. "]") end
		return out
	end
	if space.pixel_format then -- the emulator's own bytes; vecbridge converts them to RGB
		return pixel_wire(space.bytes_per_pixel, space.shape[1], space.shape[2], v, what, space.pixel_expect)
	end
	-- an array leaf: Box, MultiDiscrete, MultiBinary
	local bytes
	if type(v) == "table" and getmetatable(v) == ARRAY_MT then
		if v.dtype ~= space.dtype or shape_str(v.shape) ~= shape_str(space.shape) then
			fail(string_format("%s: expected %s, got a vecbridge.array of %s with shape %s", what, space.expect, v.dtype,
				shape_str(v.shape)))
		end
		bytes = array_bytes(v, what)
	else
		bytes = data_bytes(space.dt, space.shape, space.count, v, what, space.expect)
	end
	return setmetatable({ dtype = space.dtype, shape = space.shape, bytes = bytes, json = space.array_json }, ARRAY_MT)
end

--- `vecbridge.check(space, value)`: raises the error `serve` would raise for a bad observation.
function M.check(space, value, what)
	if type(space) ~= "table" or space.kind == nil then space = parse_space(space) end
	encode_space_value(space, value, what or "value")
	return true
end

-- ------------------------------------------------------------------ messages

local EMPTY_OBJECT = setmetatable({}, JSON_OBJECT_MT)

-- payload bytes of a message: u32 LE header length | header JSON | array data
-- The parts of a message's payload: parts[1] is left "" for the transport's framing prefix, then
-- the header length, the header and the array data; returns the parts, the payload's byte count,
-- and the raw frames (strings or sending functions) to send after it, if any. Kept in parts, a
-- 240 KiB screen is copied once, into the frame, instead of three times (measured on Lua 5.1:
-- 17 us a copy, plus the garbage collector's share).
local function encode_parts(type_, fields, order)
	local ctx = { arrays = {}, raw = {} }
	local out = { '{"type":', encode_string(type_) }
	local keys = order
	if not keys then
		keys = {}
		for k in pairs(fields) do keys[#keys + 1] = k end
	end
	for _, k in ipairs(keys) do
		out[#out + 1] = ","
		out[#out + 1] = encode_string(k)
		out[#out + 1] = ":"
		encode_into(fields[k], out, ctx, nil, k, 0)
	end
	local arrays = ctx.arrays
	local blobs = {}
	if #arrays > 0 then
		out[#out + 1] = ',"arrays":['
		for i, entry in ipairs(arrays) do
			local a, where = entry[1], entry[2]
			if i > 1 then out[#out + 1] = "," end
			get_dtype(a.dtype, where)
			out[#out + 1] = a.json or ('{"dtype":"' .. a.dtype .. '","shape":' .. M.json_encode(a.shape) .. "}")
			blobs[i] = array_bytes(a, where)
		end
		out[#out + 1] = "]"
	end
	local raw = ctx.raw
	if #raw > 0 then out[#out + 1] = ',"raw_frames":' .. #raw end
	out[#out + 1] = "}"
	local header = table_concat(out)
	local parts, n = { "", u32le(#header), header }, 4 + #header
	for i = 1, #blobs do
		local blob = blobs[i]
		parts[3 + i] = blob
		n = n + (type(blob) == "string" and #blob or view_len(blob))
	end
	return parts, n, #raw > 0 and raw or nil
end

-- parts[first..] as one string
local function flatten(parts, first)
	local out = {}
	for i = first, #parts do out[#out + 1] = materialize(parts[i]) end
	return table_concat(out)
end

--- the payload of a message (a string), and its raw frames if any
local function encode_message(type_, fields, order)
	local parts, _, raw = encode_parts(type_, fields, order)
	return flatten(parts, 2), raw
end
M.encode_message = encode_message

local function resolve_arrays(v, arrays)
	if type(v) ~= "table" or v == NULL then return v end
	local ref = v["$array"]
	if ref ~= nil and next(v, next(v)) == nil then
		local a = arrays[(tonumber(ref) or -1) + 1]
		if a == nil then fail("message: an array reference " .. tostring(ref) .. " points outside the arrays sent") end
		return a
	end
	for k, val in pairs(v) do
		if type(val) == "table" then v[k] = resolve_arrays(val, arrays) end
	end
	return v
end

--- decode one payload into a header table; arrays become numbers / lists / nested lists.
local function decode_message(payload)
	if #payload < 4 then fail("message: a payload of " .. #payload .. " bytes is too short") end
	local hlen = read_u32le(payload, 1)
	if 4 + hlen > #payload then fail("message: the header length " .. hlen .. " runs past the payload") end
	local header = M.json_decode(string_sub(payload, 5, 4 + hlen))
	if type(header) ~= "table" or type(header.type) ~= "string" then fail("message: the header has no 'type'") end
	local descs = header.arrays
	if type(descs) == "table" and #descs > 0 then
		local pos = 5 + hlen
		local arrays = {}
		for k = 1, #descs do
			local d = descs[k]
			local dt = get_dtype(d.dtype, "message array " .. (k - 1))
			local shape = d.shape
			local count = shape_count(shape)
			local nbytes = count * dt.size
			if pos + nbytes - 1 > #payload then fail("message: array " .. (k - 1) .. " runs past the payload") end
			arrays[k] = nest(unpack_values(dt, payload, pos, count), shape)
			pos = pos + nbytes
		end
		header.arrays = nil
		resolve_arrays(header, arrays)
	else
		header.arrays = nil
	end
	return header
end
M.decode_message = decode_message

-- ------------------------------------------------------------------ parameters

local function userdata_get(key)
	local ud = rawget(_G, "userdata")
	if type(ud) ~= "table" or type(ud.get) ~= "function" then return nil end
	local ok, v = pcall(ud.get, key)
	if ok then return v end
	return nil
end

local function param(env_name, ud_key)
	local v = os and os.getenv and os.getenv(env_name)
	if v ~= nil and v ~= "" then return v end
	if ud_key then
		v = userdata_get(ud_key)
		if v ~= nil and v ~= "" then return v end
	end
	return nil
end

--- `vecbridge.config()`: the game options (VECBRIDGE_CONFIG, or BizHawk userdata
-- `vecbridge_config`), a table; `{}` when none were given.
function M.config()
	local text = param("VECBRIDGE_CONFIG", "vecbridge_config")
	if text == nil then return setmetatable({}, JSON_OBJECT_MT) end
	if type(text) ~= "string" then fail("vecbridge: the game config must be a JSON object, got " .. describe(text)) end
	local ok, v = pcall(M.json_decode, text)
	if not ok or type(v) ~= "table" then
		fail("vecbridge: VECBRIDGE_CONFIG is not a JSON object: " .. tostring(ok and describe(v) or v))
	end
	return v
end

--- `vecbridge.params([opts])`: where to connect and who this instance is.
function M.params(opts)
	opts = opts or {}
	local p = {}
	p.host = opts.host or param("VECBRIDGE_HOST", "vecbridge_host") or "127.0.0.1"
	p.port = opts.port or param("VECBRIDGE_PORT", "vecbridge_port")
	local instance = opts.instance or param("VECBRIDGE_INSTANCE", "vecbridge_instance")
	local token = opts.token or param("VECBRIDGE_TOKEN", "vecbridge_token")
	if instance == nil or token == nil then
		fail("vecbridge: VECBRIDGE_INSTANCE / VECBRIDGE_TOKEN are not set (nor BizHawk userdata vecbridge_instance / " ..
			"vecbridge_token): this script is meant to be launched by vecbridge")
	end
	if type(token) ~= "string" then
		fail("vecbridge: the token must be text, got " .. describe(token) .. " (BizHawk's --userdata turns values that " ..
			"look like numbers into numbers: pass the token in VECBRIDGE_TOKEN instead)")
	end
	p.instance = tonumber(instance)
	if p.instance == nil then fail("vecbridge: VECBRIDGE_INSTANCE is not an integer: " .. describe(instance)) end
	p.instance = to_int(p.instance)
	p.token = token
	p.config = opts.config or M.config()
	p.framing = opts.framing or param("VECBRIDGE_FRAMING") or "binary"
	return p
end

-- ------------------------------------------------------------------ transports

local function log_error(msg)
	local io_ = rawget(_G, "io")
	if io_ and io_.stderr then
		io_.stderr:write(msg, "\n")
		io_.stderr:flush()
	else
		print(msg)
	end
end
M.log = log_error

--- the LuaSocket transport: binary framing (or comm framing when asked for)
local function socket_transport(p, opts)
	local ok, socket = pcall(require, "socket")
	if not ok then
		fail("vecbridge: LuaSocket (require 'socket') is not available: " .. tostring(socket) ..
			"\n(install lua-socket, or run under BizHawk where the comm transport needs no LuaSocket)")
	end
	local sock, err
	local tcp = false -- TCP options (Nagle) exist only on a TCP socket
	-- a Unix-domain socket when vecbridge offers one and LuaSocket has socket.unix; else TCP
	local path = opts.socket or param("VECBRIDGE_SOCKET")
	local has_unix, unix = false, nil
	if path and path ~= "" then has_unix, unix = pcall(require, "socket.unix") end
	if has_unix and type(unix) == "table" then
		sock = (unix.stream or unix)()
		if not sock:connect(path) then sock:close(); sock = nil end
	end
	if not sock then
		if p.port == nil then fail("vecbridge: VECBRIDGE_PORT is not set: this script is meant to be launched by vecbridge") end
		sock, err = socket.connect(p.host, tonumber(p.port))
		if not sock then fail(string_format("vecbridge: cannot connect to %s:%s: %s", p.host, tostring(p.port), tostring(err))) end
		sock:setoption("tcp-nodelay", true)
		tcp = true
	end
	sock:settimeout(opts.timeout) -- nil: block forever
	local framing = p.framing == "comm" and "comm" or "binary"
	local T = { name = "socket", framing = framing, sock = sock }

	local function send_raw(data, first, last)
		local i, n = first or 1, last or #data
		while i <= n do
			local last, e, partial = sock:send(data, i, n)
			if last then
				i = last + 1
			else
				if e == "closed" then return false end
				if partial and partial >= i then i = partial + 1
				elseif e ~= "timeout" then fail("vecbridge: send failed: " .. tostring(e)) end
			end
		end
		return true
	end

	local function receive(n)
		local data, e, partial = sock:receive(n)
		if data then return data end
		if e == "closed" then
			if partial and #partial > 0 then log_error("vecbridge: the connection closed inside a frame") end
			return nil
		end
		fail("vecbridge: receive failed: " .. tostring(e))
	end

	function T.send(payload)
		if framing == "comm" then
			local text = M.base64_encode(payload)
			return send_raw(#text .. " " .. text)
		end
		return send_raw(u32le(#payload) .. payload)
	end

	-- a payload in parts (encode_parts): the small parts joined, large ones (a screen) sent as they
	-- are, with no copy in Lua
	local send_parts_now
	function T.send_parts(parts, n)
		if framing == "comm" then return T.send(flatten(parts, 2)) end
		parts[1] = u32le(n)
		if n >= 65536 and tcp then
			-- LuaSocket writes in 8 KiB steps: with TCP_NODELAY each would go out as a segment of its
			-- own and wake the reader. Nagle on for the frame, then off again (which pushes the rest):
			-- a 240 KiB screen cost 190-250 us of CPU in Lua 5.1 per frame, now 85-95 (measured).
			sock:setoption("tcp-nodelay", false)
			local ok = send_parts_now(parts)
			sock:setoption("tcp-nodelay", true)
			return ok
		end
		return send_parts_now(parts)
	end

	function send_parts_now(parts)
		local small, k = {}, 0
		for i = 1, #parts do
			local p = parts[i]
			if type(p) == "string" and #p < 65536 then
				k = k + 1
				small[k] = p
			else
				if k > 0 and not send_raw(table_concat(small, "", 1, k)) then return false end
				k = 0
				local ok
				if type(p) == "string" then ok = send_raw(p) else ok = send_raw(p[1], p[2], p[3]) end
				if not ok then return false end
			end
		end
		return k == 0 or send_raw(table_concat(small, "", 1, k))
	end

	-- a raw frame: the bytes as they are (also in the comm framing: no base64)
	function T.send_raw(data)
		if type(data) == "function" then
			fail("vecbridge: a raw frame sent by a function (such as comm.socketServerScreenShot) needs BizHawk's " ..
				"comm transport; over LuaSocket give the bytes")
		end
		if framing == "comm" then return send_raw(#data .. " " .. data) end
		return send_raw(u32le(#data) .. data)
	end

	function T.receive()
		if framing == "comm" then
			local digits = {}
			while true do
				local c = receive(1)
				if c == nil then return nil end
				if c == " " then break end
				if not string_find(c, "%d") or #digits >= 10 then
					fail("vecbridge: comm framing: expected an ASCII length and a space, got " .. describe(c))
				end
				digits[#digits + 1] = c
			end
			local text = receive(tonumber(table_concat(digits)))
			if text == nil then return nil end
			return M.base64_decode(text)
		end
		local head = receive(4)
		if head == nil then return nil end
		local n = read_u32le(head, 1)
		if n == 0 then return "" end
		return receive(n)
	end

	function T.close() sock:close() end

	return T
end

--- the BizHawk comm transport: EmuHawk frames ("<len> <text>"); the text is base64
local function comm_transport(_, opts)
	local comm = rawget(_G, "comm")
	if type(comm) ~= "table" or type(comm.socketServerSend) ~= "function" then
		fail("vecbridge: the comm transport needs BizHawk's comm.socketServer* API " ..
			"(start EmuHawk with --socket_ip and --socket_port)")
	end
	local T = { name = "comm", framing = "comm" }
	local timeout_ms = opts.comm_timeout_ms
	if timeout_ms and comm.socketServerSetTimeout then comm.socketServerSetTimeout(timeout_ms) end

	function T.send(payload)
		local r = comm.socketServerSend(M.base64_encode(payload))
		if r == nil or r < 0 then return false end
		return true
	end

	function T.send_parts(parts) return T.send(flatten(parts, 2)) end

	-- a raw frame: only EmuHawk itself can send bytes (comm.socketServerScreenShot sends the screen's PNG);
	-- a Lua string would travel through a .NET string and be mangled
	function T.send_raw(data)
		if type(data) ~= "function" then
			fail("vecbridge: under BizHawk's comm API a raw frame must be sent by a function such as " ..
				"comm.socketServerScreenShot (a byte string would be mangled on its way through .NET)")
		end
		data()
		return not comm.socketServerSuccessful or comm.socketServerSuccessful() ~= false
	end

	function T.receive()
		while true do
			local text = comm.socketServerResponse()
			if text ~= nil and text ~= "" then return M.base64_decode(text) end
			-- "" means a timeout or a failed connection (BizHawk does not say which)
			if comm.socketServerIsConnected and not comm.socketServerIsConnected() then return nil end
			if not timeout_ms or timeout_ms == 0 then return nil end -- no timeout set: "" is a failure
		end
	end

	function T.close() end

	return T
end

--- `vecbridge.connect([opts])`: open the transport (`opts.transport` = "socket" or "comm";
-- default: comm when BizHawk's comm API is present, else LuaSocket).
function M.connect(opts, p)
	opts = opts or {}
	p = p or M.params(opts)
	local which = opts.transport
	if which == nil or which == "auto" then
		local comm = rawget(_G, "comm")
		-- (bizhawk_api.lua's stand-in for BizHawk's comm under FCEUX is marked: it is not a transport)
		which = (type(comm) == "table" and type(comm.socketServerSend) == "function" and not comm.__vecbridge_emulated)
			and "comm" or "socket"
	end
	if which == "comm" then return comm_transport(p, opts) end
	if which == "socket" then return socket_transport(p, opts) end
	fail("vecbridge: unknown transport " .. describe(which) .. "; expected 'socket' or 'comm'")
end

-- ------------------------------------------------------------------ serving a game

local function errmsg(e)
	if type(e) == "string" then return e end
	if type(e) == "table" and e.message then return tostring(e.message) end
	return tostring(e)
end

local function is_callable(f)
	if type(f) == "function" then return true end
	local mt = getmetatable(f)
	return type(mt) == "table" and mt.__call ~= nil
end

local function pack_results(...)
	return select("#", ...), { ... }
end

local function denull(v)
	if v == NULL then return nil end
	return v
end

local STEP_ORDER = { "observation", "reward", "terminated", "truncated", "info" }
local RESET_ORDER = { "observation", "info" }
local STEP_MASK_ORDER = { "observation", "reward", "terminated", "truncated", "info", "action_mask" }
local RESET_MASK_ORDER = { "observation", "info", "action_mask" }

-- game:action_mask() -> a bool array (true = allowed), sent with every reset/step result
local function action_mask(game)
	local mask = game:action_mask()
	if type(mask) == "table" and getmetatable(mask) == ARRAY_MT then
		if mask.dtype ~= "bool" or #mask.shape ~= 1 then
			fail("action_mask: expected a 1-D bool array, got " .. tostring(mask))
		end
		return mask
	end
	if type(mask) ~= "table" or #mask == 0 then
		fail("action_mask: expected a non-empty list of booleans, got " .. describe(mask))
	end
	for i = 1, #mask do
		if type(mask[i]) ~= "boolean" then
			fail("action_mask: item " .. i .. " is " .. describe(mask[i]) .. ", expected true or false")
		end
	end
	return M.array("bool", { #mask }, mask)
end

local function info_value(info, what)
	if info == nil or info == NULL then return EMPTY_OBJECT end
	if type(info) ~= "table" or getmetatable(info) == ARRAY_MT then
		fail(what .. ": info must be a table (or nil), got " .. describe(info))
	end
	if next(info) ~= nil and is_list(info) then fail(what .. ": info must be a table of name -> value, got a list") end
	return info
end

local function flag(v, name)
	if v == nil then return false end
	if type(v) ~= "boolean" then fail("step: '" .. name .. "' must be true or false, got " .. describe(v)) end
	return v
end

-- the frame value and its pixel format (nil: RGB)
local function render_frame(frame)
	if frame == nil or frame == NULL then return nil end
	if getmetatable(frame) == IMAGE_MT then
		local bpp = PIXEL_FORMATS[frame.pixel_format]
		local wire = pixel_wire(bpp, frame.height, frame.width, frame.data, "render", "the frame's " ..
			frame.pixel_format .. " bytes")
		return wire, frame.pixel_format, frame.palette
	end
	if getmetatable(frame) == ARRAY_MT then
		if frame.dtype ~= "uint8" or #frame.shape ~= 3 then
			fail("render: the frame must be a uint8 array of shape [H, W, 3], got " .. tostring(frame))
		end
		return frame
	end
	if type(frame) == "table" and type(frame[1]) == "table" then
		return M.array("uint8", infer_shape(frame), frame)
	end
	fail("render: return vecbridge.array('uint8', {H, W, 3}, pixels), nested H x W x 3 tables, or nil; got " ..
		describe(frame))
end

local function call_method(game, name, args, kwargs)
	local n = #args
	local a = {}
	for i = 1, n do a[i] = denull(args[i]) end
	if name == "__getattr__" then
		local key = a[1]
		local v = game[key]
		if v == nil then fail("the game has no attribute '" .. tostring(key) .. "'") end
		if type(v) == "function" then
			fail(string_format("'%s' is a method: run it with call('%s', ...)", tostring(key), tostring(key)))
		end
		return v
	elseif name == "__setattr__" then
		if type(a[1]) ~= "string" then fail("__setattr__: the attribute name must be a string, got " .. describe(a[1])) end
		game[a[1]] = a[2]
		return nil
	end
	local f = game[name]
	if f == nil then fail("the game has no method or attribute '" .. name .. "'") end
	if not is_callable(f) then
		if n > 0 then fail("'" .. name .. "' is not a method (it is " .. describe(f) .. ")") end
		return f
	end
	if type(kwargs) == "table" and next(kwargs) ~= nil then
		n = n + 1
		a[n] = kwargs
	end
	local count, results = pack_results(f(game, unpack(a, 1, n)))
	if count <= 1 then return results[1] end
	local list = setmetatable({}, JSON_ARRAY_MT)
	for i = 1, count do
		local r = results[i]
		if r == nil then r = NULL end
		list[i] = r
	end
	return list
end

local function handle(game, obs_space, msg)
	local t = msg.type
	if t == "step" then
		local obs, reward, terminated, truncated, info = game:step(msg.action)
		if type(reward) ~= "number" then
			if reward == true then reward = 1 elseif reward == false then reward = 0
			else fail("step: the reward must be a number, got " .. describe(reward)) end
		end
		local masked = is_callable(game.action_mask)
		return encode_parts("step_result", {
			observation = encode_space_value(obs_space, obs, "step observation"),
			reward = reward,
			terminated = flag(terminated, "terminated"),
			truncated = flag(truncated, "truncated"),
			info = info_value(info, "step"),
			action_mask = masked and action_mask(game) or nil,
		}, masked and STEP_MASK_ORDER or STEP_ORDER)
	elseif t == "reset" then
		local options = denull(msg.options)
		local obs, info = game:reset(denull(msg.seed), options)
		local masked = is_callable(game.action_mask)
		return encode_parts("reset_result", {
			observation = encode_space_value(obs_space, obs, "reset observation"),
			info = info_value(info, "reset"),
			action_mask = masked and action_mask(game) or nil,
		}, masked and RESET_MASK_ORDER or RESET_ORDER)
	elseif t == "render" then
		local frame, pixel_format, palette = nil, nil, nil
		if is_callable(game.render) then frame, pixel_format, palette = render_frame(game:render()) end
		return encode_parts("render_result", { frame = frame or NULL, pixel_format = pixel_format,
			palette = palette and wire_list(palette) or nil })
	elseif t == "call" then
		local name = msg.name
		if type(name) ~= "string" then fail("call: the name must be a string, got " .. describe(name)) end
		local args = msg.args
		if type(args) ~= "table" or args == NULL then args = {} end
		local value = call_method(game, name, args, denull(msg.kwargs))
		return encode_parts("call_result", { value = value == nil and NULL or value })
	end
	fail("unexpected request " .. describe(t))
end

--- `vecbridge.handle(game, obs_space, msg)`: the reply payload `serve` sends for one decoded
-- request (sans-I/O; `obs_space` from `vecbridge.space(game.observation_space)`). Raises the
-- game's errors, which `serve` turns into `error` replies. Also returns the message's raw frames, if any.
function M.handle(game, obs_space, msg)
	local parts, _, raw = handle(game, obs_space, msg)
	return flatten(parts, 2), raw
end

-- How game code runs protected, so that its errors become `error` replies. Emulators
-- advance frames by yielding the script's coroutine (emu.frameadvance), and a yield
-- must get through:
--   "xpcall": Lua 5.2+ and LuaJIT, where xpcall is yieldable (BizHawk 2.9+ yields its
--             script thread from inside it);
--   "coroutine": plain Lua 5.1 (FCEUX): each request runs in a coroutine; the game's
--             yields (FCEUX's frameadvance yields the calling coroutine) are passed on
--             to the emulator with coroutine.yield, and the request resumes after;
--   false: no protection (an error ends the script); for old BizHawk on Lua 5.1,
--             whose frameadvance yields the script thread and so works in neither.
local function default_protect()
	if _VERSION ~= "Lua 5.1" or rawget(_G, "jit") then return "xpcall" end
	local comm = rawget(_G, "comm")
	-- (bizhawk_api.lua's stand-in for BizHawk's API under FCEUX is marked: FCEUX takes "coroutine")
	if type(rawget(_G, "client")) == "table" and type(comm) == "table" and not comm.__vecbridge_emulated then
		return false
	end
	return "coroutine"
end

local function pack_n(...)
	return { n = select("#", ...), ... }
end

local function traceback_of(co, e)
	if debug and debug.traceback then
		if co then return debug.traceback(co, errmsg(e)) end
		return debug.traceback(errmsg(e), 3)
	end
	return errmsg(e)
end

-- ok, result | false, error, traceback
local function protected_call(mode, fn)
	if mode == "xpcall" then
		local tb
		local ok, result = xpcall(fn, function(e)
			tb = traceback_of(nil, e)
			return e
		end)
		return ok, result, tb
	elseif mode == "coroutine" then
		local co = coroutine.create(fn)
		local res = pack_n(coroutine.resume(co))
		while res[1] and coroutine.status(co) == "suspended" do
			if coroutine.running() == nil then
				return false, "the game yielded (emu.frameadvance?) but this script does not run in a coroutine", ""
			end
			local back = pack_n(coroutine.yield(unpack(res, 2, res.n)))
			res = pack_n(coroutine.resume(co, unpack(back, 1, back.n)))
		end
		if res[1] then return true, res[2] end
		return false, res[2], traceback_of(co, res[2])
	end
	return true, fn()
end

local function exit_after_close(opts)
	local how = opts.exit
	if how == nil then how = "auto" end
	if how == false then return end
	if is_callable(how) then return how() end
	local client, emu = rawget(_G, "client"), rawget(_G, "emu")
	if type(client) == "table" and type(client.exit) == "function" then return client.exit() end -- BizHawk
	if type(emu) == "table" and type(emu.exit) == "function" then return emu.exit() end -- FCEUX
	if how == true and os and os.exit then os.exit(0) end
end

--- `vecbridge.serve(game[, opts])`: connect, say hello, answer requests until `close`
-- or the connection ends. `game` is a table (see the README) or a function
-- `function(config) return game end`. Errors raised by the game are sent back as
-- `error` replies (with a traceback) and serving goes on.
--
-- opts: transport ("socket" | "comm"), host, port, instance, token, config,
-- framing ("binary" | "comm" over LuaSocket), timeout (LuaSocket seconds),
-- comm_timeout_ms, exit (true | false | function | "auto"), on_error(function(msg, tb)),
-- protect ("xpcall" | "coroutine" | false; see default_protect).
function M.serve(game, opts)
	opts = opts or {}
	local p = M.params(opts)
	if is_callable(game) and type(game) ~= "table" then game = game(p.config) end
	if type(game) ~= "table" then fail("vecbridge.serve: expected a game table, got " .. describe(game), 2) end
	if game.observation_space == nil or game.action_space == nil then
		fail("vecbridge.serve: the game needs 'observation_space' and 'action_space'", 2)
	end
	if not is_callable(game.reset) or not is_callable(game.step) then
		fail("vecbridge.serve: the game needs methods reset(self, seed, options) and step(self, action)", 2)
	end
	local obs_space = parse_space(game.observation_space, "observation_space")
	parse_space(game.action_space, "action_space")

	local metadata = game.metadata
	if metadata == nil then
		metadata = setmetatable({}, JSON_OBJECT_MT)
		if is_callable(game.render) then metadata.render_modes = M.json_array({ "rgb_array" }) end
	else
		local copy = setmetatable({}, JSON_OBJECT_MT)
		for k, v in pairs(metadata) do copy[k] = v end
		if type(copy.render_modes) == "table" then copy.render_modes = wire_list(copy.render_modes) end
		metadata = copy
	end
	if is_callable(game.action_mask) and metadata.action_mask == nil then metadata.action_mask = true end

	local conn = M.connect(opts, p)
	M.connection = conn
	local hello = encode_message("hello", {
		version = M.PROTOCOL_VERSION,
		instance = p.instance,
		token = p.token,
		name = game.name and tostring(game.name) or "lua game",
		observation_space = wire_space(game.observation_space),
		action_space = wire_space(game.action_space),
		metadata = metadata,
	}, { "version", "instance", "token", "name", "observation_space", "action_space", "metadata" })
	if not conn.send(hello) then fail("vecbridge: the connection closed before the hello was sent") end

	local payload = conn.receive()
	if payload == nil then fail("vecbridge: the connection closed before the welcome (was the hello rejected?)") end
	local welcome = decode_message(payload)
	if welcome.type ~= "welcome" then fail("vecbridge: expected a welcome, got " .. describe(welcome.type)) end
	if welcome.version ~= M.PROTOCOL_VERSION then
		fail("vecbridge: vecbridge speaks protocol version " .. tostring(welcome.version) .. ", this client " ..
			M.PROTOCOL_VERSION)
	end
	M.welcome = welcome
	if is_callable(game.on_welcome) then game:on_welcome(welcome) end

	local on_error = opts.on_error
	local protect = opts.protect
	if protect == nil then protect = default_protect() end
	while true do
		payload = conn.receive()
		if payload == nil then break end -- end of file: vecbridge went away
		local msg = decode_message(payload)
		if msg.type == "close" then break end
		local ok, reply, tb = protected_call(protect, function()
			local parts, n, raw = handle(game, obs_space, msg)
			return { parts, n, raw }
		end)
		local raw, sent
		if ok then
			raw = reply[3]
			sent = conn.send_parts(reply[1], reply[2])
		else
			local message = errmsg(reply)
			if on_error then pcall(on_error, message, tb) end
			sent = conn.send(encode_message("error", { message = message, traceback = tb or "" }, { "message", "traceback" }))
		end
		if not sent then break end
		if raw then -- the frames the message refers to with {"$raw": k}, right after it
			local sent = true
			for i = 1, #raw do sent = sent and conn.send_raw(raw[i]) end
			if not sent then break end
		end
	end

	if is_callable(game.close) then
		local ok, e = pcall(game.close, game)
		if not ok then log_error("vecbridge: game:close() failed: " .. errmsg(e)) end
	end
	conn.close()
	M.connection = nil
	return exit_after_close(opts)
end

M.run = M.serve

return M
