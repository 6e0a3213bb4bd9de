-- Unit checks of gym-bizhawk's spaces (launchers/lua/gymbizhawk_spaces.lua), action masks,
-- bizstring.lua, and vecbridge.lua's action_mask field (vecbridge.handle, byte for byte).
-- Pure Lua: no emulator, no socket. Prints "ok" when every check passed.
--   lua5.4 gymbizhawk_unit.lua                -- the checks
--   lua5.4 gymbizhawk_unit.lua mask-payloads  -- hex of a step_result and a reset_result with a mask
local S = require("gymbizhawk_spaces")
local B = require("bizstring")
local vecbridge = require("vecbridge")
local failures = 0

local function check(name, cond, detail)
	if not cond then
		failures = failures + 1
		io.stderr:write("FAIL ", name, detail ~= nil and (": " .. tostring(detail)) or "", "\n")
	end
end

local function raises(name, pattern, f, ...)
	local ok, err = pcall(f, ...)
	check(name .. " raises", not ok, "no error")
	if not ok then check(name .. " message", string.find(tostring(err), pattern, 1, true) ~= nil, err) end
end

-- JSON of a value, with infinities as "inf" (as vecbridge's hello writes them)
local function fix(x)
	if type(x) == "number" and (x == math.huge or x == -math.huge) then return x > 0 and "inf" or "-inf" end
	if type(x) ~= "table" then return x end
	local o = {}
	for k, v in pairs(x) do o[k] = fix(v) end
	return o
end
local function same(a, b) -- structural equality through a canonical JSON (sorted keys)
	local function canon(v)
		if type(v) ~= "table" then return vecbridge.json_encode(v) end
		local keys = {}
		for k in pairs(v) do keys[#keys + 1] = k end
		table.sort(keys, function(p, q) return tostring(p) < tostring(q) end)
		local parts = {}
		for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. canon(v[k]) end
		return "{" .. table.concat(parts, ",") .. "}"
	end
	return canon(fix(a)) == canon(fix(b))
end

local function hex(s)
	return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

-- a game whose step/reset results carry a mask (the observation: 2 float32)
local masked = {
	observation_space = "float[2]",
	action_space = "int 0 2",
	reset = function() return { 0.5, -1 }, {} end,
	step = function() return { 0.5, -1 }, 1, false, false, nil end,
	action_mask = function() return { true, false, true } end,
}
local obs_space = vecbridge.space(masked.observation_space)

if arg and arg[1] == "mask-payloads" then
	print(hex(vecbridge.handle(masked, obs_space, { type = "step", action = 1 })))
	print(hex(vecbridge.handle(masked, obs_space, { type = "reset" })))
	return
end

-- ------------------------------------------------------------------ type strings
local it = S.parse_item("int[5] 0 9")
check("int[5] 0 9", it.kind == "int" and it.lo == 0 and it.hi == 9 and it.count == 5 and not it.rest)
it = S.parse_item(" int 0 9 [5] ")
check("int 0 9 [5]", it.lo == 0 and it.hi == 9 and it.count == 5)
it = S.parse_item("int* 0x10 0x20")
check("int* 0x10 0x20", it.rest and it.lo == 16 and it.hi == 32)
it = S.parse_item("float -1 1")
check("float -1 1", it.kind == "float" and it.lo == -1 and it.hi == 1)
check("bool*", S.parse_item("bool*").rest)
raises("unknown kind", "invalid type string \"boo\"", S.parse_item, "boo")
raises("bool bounds", "'bool' takes no bounds", S.parse_item, "bool 0 1")
raises("one bound", "expected two bounds", S.parse_item, "int 1")
raises("hi below lo", "HI is below LO", S.parse_item, "int 3 1")
raises("count 0", "[N] must be 1 or more", S.parse_item, "int[0]")
raises("int fraction", "must be integers", S.parse_item, "int 0 1.5")

check("generation v3", S.generation({ ACTION_SPACE = {} }) == "v3")
check("generation v2", S.generation({ ACTION = {} }) == "v2")

-- ------------------------------------------------------------------ actions
local a = S.actions({ "bool", "bool" }, "v2", "flat")
check("flat bools: MultiDiscrete", same(a.space, { type = "MultiDiscrete", nvec = { 2, 2 } }), vecbridge.json_encode(a.space))
check("flat bools: booleans to step", same(a.to_processor({ 1, 0 }), { true, false }))
a = S.actions({ "bool", "bool" }, "v2", "gym-bizhawk")
check("v2 exact: Tuple", same(a.space, { type = "Tuple", spaces = { { type = "Discrete", n = 2 }, { type = "Discrete", n = 2 } } }))
check("v2 exact: booleans", same(a.to_processor({ 0, 1 }), { false, true }))
a = S.actions({ "int 0 8" }, "v2", "gym-bizhawk")
check("v2 exact single: still a Tuple", a.space.type == "Tuple" and #a.space.spaces == 1)
check("v2 exact single: value", same(a.to_processor({ 4 }), { 4 }))
a = S.actions({ "int 0 8" }, "v2", "flat")
check("flat single: Discrete", same(a.space, { type = "Discrete", n = 9, start = 0 }) and same(a.to_processor(4), { 4 }))
a = S.actions({ "int 1 8", "int 1 16", "bool", "bool" }, "v3", "flat")
check("flat start", same(a.space, { type = "MultiDiscrete", nvec = { 8, 16, 2, 2 }, start = { 1, 1, 0, 0 } }))
check("flat start values", same(a.to_processor({ 3, 16, 0, 1 }), { 3, 16, false, true }))
a = S.actions({ "bool" }, "v3", "gym-bizhawk")
check("v3 exact single: the space itself", same(a.space, { type = "Discrete", n = 2 }) and same(a.to_processor(1), { true }))
a = S.actions({ "int[3]", "bool" }, "v3", "gym-bizhawk")
check("v3 exact int[3]", same(a.space, { type = "Tuple", spaces = { { type = "Box", shape = { 3 }, dtype = "int64",
	low = -math.huge, high = math.huge }, { type = "Discrete", n = 2 } } }), vecbridge.json_encode(fix(a.space)))
check("v3 exact int[3] values", same(a.to_processor({ { 1, 2, 3 }, 1 }), { 1, 2, 3, true }))
a = S.actions({ "float 0 1", "float" }, "v3", "flat")
check("flat floats: Box", same(a.space, { type = "Box", shape = { 2 }, dtype = "float32", low = { 0, -math.huge },
	high = { 1, math.huge } }))
a = S.actions({ "float 0 1", "bool" }, "v3", "flat")
check("flat mix: Tuple", a.space.type == "Tuple" and not a.discrete and same(a.to_processor({ { 0.5 }, 1 }), { 0.5, true }))
raises("no actions", "must be a non-empty list", S.actions, {}, "v3", "flat")
raises("* in actions", "only allowed in observations", S.actions, { "bool*" }, "v3", "flat")

-- ------------------------------------------------------------------ observations
local o = S.observations("int 0 255", "v2", "flat", 8)
check("int 0 255 x8: Box(0, 255, (8,), int64)", same(o.space, { type = "Box", shape = { 8 }, dtype = "int64", low = 0, high = 255 }))
o = S.observations("int 0 255", "v2", "gym-bizhawk", 8)
check("v2 exact int LO HI x8: Box", same(o.space, { type = "Box", shape = { 8 }, dtype = "int64", low = 0, high = 255 }))
o = S.observations("int 0 255", "v2", "gym-bizhawk", 1)
check("v2 exact one value: Discrete", same(o.space, { type = "Discrete", n = 256, start = 0 }) and o.to_wire({ 7 }) == 7)
o = S.observations("bool", "v2", "gym-bizhawk", 3)
check("v2 exact bool x3: Box of 0/1", same(o.space, { type = "Box", shape = { 3 }, dtype = "int64", low = 0, high = 1 }))
check("booleans become 0/1", same(o.to_wire({ true, false, 1 }), { 1, 0, 1 }))
o = S.observations({ "int 0 122", "bool[2]", "bool*" }, "v3", "flat", 5)
check("v3 flat: per-item bounds", same(o.space, { type = "Box", shape = { 5 }, dtype = "int64", low = 0,
	high = { 122, 1, 1, 1, 1 } }))
o = S.observations({ "int 0 122", "bool[2]", "float*" }, "v3", "gym-bizhawk", 5)
check("v3 exact: Tuple", same(o.space, { type = "Tuple", spaces = { { type = "Discrete", n = 123, start = 0 },
	{ type = "Discrete", n = 2 }, { type = "Discrete", n = 2 }, { type = "Box", shape = { 2 }, dtype = "float32",
	low = -math.huge, high = math.huge } } }), vecbridge.json_encode(fix(o.space)))
check("v3 exact values", same(o.to_wire({ 1, true, 0, 1, 0.5 }), { 1, 1, 0, { 1, 0.5 } }))
o = S.observations({ "int*" }, "v3", "gym-bizhawk", 4)
check("v3 exact int*", o.space.type == "Box" and same(o.to_wire({ 1, 2, 3, 4 }), { 1, 2, 3, 4 }))
raises("v3 count mismatch", "OBSERVATION declares 1 values, but getObservation() returned 4", S.observations, { "int" },
	"v3", "flat", 4)
raises("two rests", "only one item may use '*'", S.observations, { "int*", "bool*" }, "v3", "flat", 4)
raises("too many before *", "declares 3 values before '*'", S.observations, { "int[3]", "bool*" }, "v3", "flat", 2)

-- ------------------------------------------------------------------ action masks
local items = S.actions({ "int 0 3" }, "v2", "flat").items
check("Discrete mask", same(S.action_mask(items, { { 1 }, { 3 }, { 3 } }), { true, false, true, false }))
items = S.actions({ "int 1 2", "bool" }, "v3", "flat").items
check("per item: only values whose every combination is invalid",
	same(S.action_mask(items, { { 1, true }, { 1, false }, { 2, true } }), { false, true, true, false }))
check("0/1 for bool items", same(S.action_mask(items, { { 1, 1 }, { 1, 0 } }), { false, true, true, true }))
local mask, empty = S.action_mask(items, { { 1, true }, { 1, false }, { 2, true }, { 2, false } })
check("nothing allowed: left all true, item reported", same(mask, { true, true, true, true }) and empty == 1)
check("no invalid actions", same(S.action_mask(items, {}), { true, true, true, true }))
raises("value out of range", "getInvalidActions()[1][1] is 3: not a value of the action item \"int 1 2\"",
	S.action_mask, items, { { 3, true } })
raises("wrong length", "expected a list of 2 values (one per action item), got 1 values", S.action_mask, items, { { 1 } })
raises("continuous item", "an action mask needs discrete action items", S.action_mask,
	S.actions({ "float", "bool" }, "v3", "flat").items, {})

-- ------------------------------------------------------------------ vecbridge.handle with action_mask
local payload = vecbridge.handle(masked, obs_space, { type = "step", action = 1 })
local msg = vecbridge.decode_message(payload)
check("step_result mask", msg.type == "step_result" and same(msg.action_mask, { true, false, true }))
msg = vecbridge.decode_message(vecbridge.handle(masked, obs_space, { type = "reset" }))
check("reset_result mask", msg.type == "reset_result" and same(msg.action_mask, { true, false, true }))
local plain = { observation_space = "float[2]", action_space = "int 0 2", reset = masked.reset, step = masked.step }
msg = vecbridge.decode_message(vecbridge.handle(plain, obs_space, { type = "step", action = 1 }))
check("no action_mask method: no field", msg.action_mask == nil)
masked.action_mask = function() return { 1, 0 } end
raises("mask of numbers", "action_mask: item 1 is 1, expected true or false", vecbridge.handle, masked,
	obs_space, { type = "step", action = 1 })
masked.action_mask = function() return {} end
raises("empty mask", "action_mask: expected a non-empty list of booleans", vecbridge.handle, masked, obs_space,
	{ type = "reset" })

-- ------------------------------------------------------------------ bizstring
check("hex", B.hex(255) == "FF" and B.hex(10) == "0A" and B.hex(0) == "00", B.hex(255))
check("hex negative", B.hex(-12345) == "FFFFFFFFFFFFCFC7", B.hex(-12345))
check("hex -2^32", B.hex(-4294967296) == "FFFFFFFF00000000", B.hex(-4294967296))
check("binary", B.binary(5) == "101" and B.binary(0) == "", B.binary(5))
check("binary negative", B.binary(-1) == string.rep("1", 64))
check("octal", B.octal(8) == "10" and B.octal(7) == "07" and B.octal(-1) == "1" .. string.rep("7", 21), B.octal(-1))
check("trim", B.trim(" \tab c \n") == "ab c" and B.trim("") == nil)
check("replace (plain)", B.replace("a.b.c", ".", "%") == "a%b%c")
check("toupper/tolower", B.toupper("aB") == "AB" and B.tolower("aB") == "ab")
check("substring (0-based)", B.substring("Some string", 5, 3) == "str")
check("remove (0-based)", B.remove("Some string", 4, 5) == "Someng")
raises("substring out of range", "outside the string", B.substring, "abc", 2, 5)
check("contains/startswith/endswith", B.contains("abc", "b") and B.startswith("abc", "ab") and B.endswith("abc", "bc")
	and not B.contains("", "a"))
check("split", same(B.split("a,,b,c", ","), { "a", "b", "c" }) and same(B.split("a.b", "."), { "a", "b" }))
check("split default separator", same(B.split("a,b", "xy"), { "a", "b" }))
check("pad", B.pad_start("7", 3, "0") == "007" and B.pad_end("7", 3) == "7  ")

if failures == 0 then print("ok") else print(failures .. " failure(s)") os.exit(1) end
