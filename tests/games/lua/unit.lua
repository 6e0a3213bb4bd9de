-- Unit checks of vecbridge.lua's pure-Lua parts (JSON, base64, type strings, packing errors).
-- Run by tests/test_client_lua.py under each interpreter: prints "ok" when every check passed.
local vecbridge = require("vecbridge")
local failures = 0

local function check(name, cond, detail)
	if not cond then
		failures = failures + 1
		io.stderr:write("FAIL ", name, detail and (": " .. tostring(detail)) or "", "\n")
	end
end

local function raises(name, pattern, f, ...)
	local ok, err = pcall(f, ...)
	check(name .. " raises", not ok, "no error")
	if not ok then check(name .. " message", string.find(tostring(err), pattern, 1, true) ~= nil, err) end
end

-- base64: RFC 4648 test vectors, then every length and byte value round-trips
local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==", fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
for plain, coded in pairs(vectors) do
	check("base64 encode " .. plain, vecbridge.base64_encode(plain) == coded, vecbridge.base64_encode(plain))
	check("base64 decode " .. coded, vecbridge.base64_decode(coded) == plain)
end
local all = {}
for i = 0, 255 do all[#all + 1] = string.char(i) end
all = table.concat(all)
for n = 0, 40 do
	local s = string.sub(all .. all, 100 - n, 99 + n * 3)
	check("base64 roundtrip " .. n, vecbridge.base64_decode(vecbridge.base64_encode(s)) == s)
end
check("base64 all bytes", vecbridge.base64_decode(vecbridge.base64_encode(all)) == all)
raises("base64 bad length", "multiple of 4", vecbridge.base64_decode, "abc")
raises("base64 bad character", "invalid", vecbridge.base64_decode, "ab!d")

-- JSON decoding
local j = vecbridge.json_decode
local v = j(' { "a" : [1, -2.5e3, true, false, null, "x\\"y\\\\z\\/\\n\\u00e9\\ud83d\\ude00"], "b": {}, "c": [] } ')
check("json list", v.a[1] == 1 and v.a[2] == -2500 and v.a[3] == true and v.a[4] == false)
check("json null", v.a[5] == vecbridge.null)
check("json string escapes", v.a[6] == 'x"y\\z/\n\195\169\240\159\152\128', v.a[6])
check("json empty object stays an object", vecbridge.json_encode(v.b) == "{}")
check("json empty list stays a list", vecbridge.json_encode(v.c) == "[]")
check("json integers", math.type == nil or math.type(j("12")) == "integer")
check("json floats", j("0.5") == 0.5 and j("1E2") == 100)
raises("json trailing", "trailing characters", j, "[1] x")
raises("json unterminated", "unterminated string", j, '"abc')
raises("json bad literal", "unexpected character", j, "[tru]")
raises("json end", "unexpected end", j, "[1,")
raises("json missing colon", "expected ':'", j, '{"a" 1}')

-- JSON encoding
local e = vecbridge.json_encode
check("json encode list", e({ 1, 2, 3 }) == "[1,2,3]")
check("json encode object", e({ a = 1 }) == '{"a":1}')
check("json encode empty table is an object", e({}) == "{}")
check("json encode marked empty list", e(vecbridge.json_array()) == "[]")
check("json encode sparse table is an object", e({ [1] = 1, [3] = 3 }) == '{"1":1,"3":3}' or e({ [1] = 1, [3] = 3 }) == '{"3":3,"1":1}')
check("json encode null", e({ vecbridge.null, 1 }) == "[null,1]")
check("json encode escapes", e('a"\\\n\t\1') == '"a\\"\\\\\\n\\t\\u0001"', e('a"\\\n\t\1'))
check("json encode utf8 kept", e("\195\169") == '"\195\169"')
check("json encode latin-1 fallback", e("\233t\233") == '"\\u00e9t\\u00e9"', e("\233t\233"))
check("json encode floats", e(0.1) == "0.1" and j(e(1 / 3)) == 1 / 3 and j(e(1e300)) == 1e300)
check("json encode float stays float (5.3+)", math.type == nil or e(2.0) == "2.0", e(2.0))
check("json encode -2", e(-2) == "-2")
raises("json encode nan", "NaN and infinities", e, { x = { 0 / 0 } })
raises("json encode path", "x[1]", e, { x = { 0 / 0 } })
raises("json encode function", "cannot encode a function", e, { f = print })
local cyc = {}
cyc.self = cyc
raises("json encode cycle", "nested more than 100 levels", e, cyc)

-- type strings and descriptions
local function sp(d) return vecbridge.space(d) end
check("bool", sp("bool").kind == "Discrete" and sp("bool").n == 2)
check("int 2 5", sp("int 2 5").kind == "Discrete" and sp("int 2 5").n == 4 and sp("int 2 5").start == 2)
check("int", sp("int").kind == "Box" and sp("int").dtype == "int64" and #sp("int").shape == 0)
check("float[4]", sp("float[4]").dtype == "float32" and sp("float[4]").shape[1] == 4)
check("float 0 1 [1]", sp("float 0 1 [1]").kind == "Box" and sp("float 0 1 [1]").count == 1)
check("md", sp({ "int 0 3", "bool" }).kind == "MultiDiscrete" and sp({ "int 0 3", "bool" }).shape[1] == 2)
check("mixed is a tuple", sp({ "int 0 3", "float" }).kind == "Tuple")
check("ints are an int64 box", sp({ "int", "int" }).dtype == "int64")
raises("unknown kind", "invalid type string", sp, "foo")
raises("bool bounds", "'bool' takes no bounds", sp, "bool 0 1")
raises("int bounds", "must be integers", sp, "int 0.5 2")
raises("hi below lo", "HI is below LO", sp, "int 3 1")
raises("unknown type", "unknown space type", sp, { type = "Text" })
raises("bad dtype", "unsupported dtype", sp, { type = "Box", shape = { 2 }, dtype = "complex64" })

-- packing and its errors
check("pack uint8", vecbridge.pack("uint8", { 1, 2, 255 }) == "\1\2\255")
check("pack int16", vecbridge.pack("int16", { -2 }) == "\254\255")
check("pack bool", vecbridge.pack("bool", { true, false, 1, 0 }) == "\1\0\1\0")
check("pack float64", vecbridge.pack("float64", { 1.0 }) == "\0\0\0\0\0\0\240\63")
check("unpack int32", vecbridge.unpack("int32", "\255\255\255\255\1\0\0\0")[1] == -1)
raises("uint8 range", "item 2 is 300: out of range for uint8 [0, 255]", vecbridge.pack, "uint8", { 1, 300 })
raises("int8 range", "out of range for int8", vecbridge.pack, "int8", { -129 })
raises("int32 integer", "item 1 is 1.5: expected an integer for int32", vecbridge.pack, "int32", { 1.5 })
raises("float32 number", "item 2 is the string", vecbridge.pack, "float32", { 1, "x" })
raises("bool value", "expected a bool", vecbridge.pack, "bool", { 2 })
raises("uint32 negative", "out of range for uint32", vecbridge.pack, "uint32", { -1 })

-- observation checks
local obs = vecbridge.space("float[4]")
raises("obs count", "obs: expected 4 values (a float32 array of shape [4] (Box)), got 3", vecbridge.check, obs, { 1, 2, 3 }, "obs")
raises("obs bytes", "expected 16 bytes", vecbridge.check, obs, "abc", "obs")
raises("obs type", "got a single value true", vecbridge.check, obs, true, "obs")
check("obs ok", vecbridge.check(obs, { 1, 2, 3, 4 }))
check("obs bytes ok", vecbridge.check(obs, string.rep("\0", 16)))
local img = vecbridge.space({ type = "Box", shape = { 2, 2, 3 }, dtype = "uint8" })
check("nested ok", vecbridge.check(img, { { { 1, 2, 3 }, { 4, 5, 6 } }, { { 7, 8, 9 }, { 10, 11, 12 } } }))
raises("nested shape", "obs[2]: expected 2 items (shape [2, 2, 3]), got 1", vecbridge.check, img,
	{ { { 1, 2, 3 }, { 4, 5, 6 } }, { { 7, 8, 9 } } }, "obs")
raises("array dtype", "got a vecbridge.array of int16", vecbridge.check, img, vecbridge.array("int16", { 2, 2, 3 }, {}))
local d = vecbridge.space("int 1 3")
raises("discrete range", "expected an integer in [1, 3] (Discrete(3)), got 4", vecbridge.check, d, 4)
check("discrete ok", vecbridge.check(d, 3))
local dict = vecbridge.space({ type = "Dict", spaces = { a = { type = "Discrete", n = 2 }, b = "float[2]" } })
raises("dict missing", "the key 'b' is missing", vecbridge.check, dict, { a = 1 })
raises("dict extra", "the string \"c\" is not in the Dict space", vecbridge.check, dict, { a = 1, b = { 1, 2 }, c = 3 })
check("dict ok", vecbridge.check(dict, { a = 1, b = { 1, 2 } }))

-- messages round-trip through the encoder and decoder
local payload = vecbridge.encode_message("step", { action = vecbridge.array("int64", { 2 }, { 3, -4 }) })
local msg = vecbridge.decode_message(payload)
check("message type", msg.type == "step")
check("message array", msg.action[1] == 3 and msg.action[2] == -4)
local m2 = vecbridge.decode_message(vecbridge.encode_message("x", { a = vecbridge.array("float32", { 2, 2 }, { 1, 2, 3, 4 }),
	s = vecbridge.array("int8", {}, { -5 }) }))
check("message nested array", m2.a[2][1] == 3 and m2.s == -5)

if failures == 0 then print("ok") else print(failures .. " failure(s)") os.exit(1) end
