-- Prints how vecbridge.lua parses each space description in the JSON list given as argument 1
-- (tests/test_client_lua.py compares this with vecbridge.protocol.space_from_json).
local vecbridge = require("vecbridge")

local function summary(sp)
	if sp.kind == "Discrete" then return { kind = "Discrete", n = sp.n, start = sp.start } end
	if sp.kind == "Dict" then
		local subs = {}
		for k, sub in pairs(sp.spaces) do subs[k] = summary(sub) end
		return { kind = "Dict", spaces = subs }
	end
	if sp.kind == "Tuple" then
		local subs = {}
		for i, sub in ipairs(sp.spaces) do subs[i] = summary(sub) end
		return { kind = "Tuple", spaces = subs }
	end
	return { kind = sp.kind, dtype = sp.dtype, shape = vecbridge.json_array(sp.shape) }
end

local out = {}
for i, desc in ipairs(vecbridge.json_decode(arg[1])) do
	local ok, sp = pcall(vecbridge.space, desc)
	out[i] = ok and summary(sp) or { error = tostring(sp) }
end
print(vecbridge.json_encode(out))
