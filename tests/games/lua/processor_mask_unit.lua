-- The action mask a processor's getInvalidActions() becomes, through processor_game.lua and
-- vecbridge.handle (sans-I/O), on the fake BizHawk console:
--   lua5.4 -l fake_bizhawk_emu processor_mask_unit.lua PROCESSOR.lua
-- (VECBRIDGE_LAUNCHERS and LUA_PATH set). Prints "ok" when every check passed.
local bizhawk = require("bizhawk")
local vecbridge = require("vecbridge")
local P = require("processor_game")
local failures = 0

local function check(name, cond, detail)
	if not cond then
		failures = failures + 1
		io.stderr:write("FAIL ", name, detail ~= nil and (": " .. tostring(detail)) or "", "\n")
	end
end

local function processor(path) -- the processor the file hands to bizhawk.run
	local run, got = bizhawk.run, nil
	bizhawk.run = function(p) got = p end
	dofile(path)
	bizhawk.run = run
	return got
end

local function mask_of(payload)
	local m = vecbridge.decode_message(payload).action_mask
	local t = {}
	for i = 1, #m do t[i] = m[i] and "T" or "F" end
	return table.concat(t)
end

for _, form in ipairs({ "flat", "gym-bizhawk" }) do
	local env = bizhawk.GymEnv.new("_unit.log")
	local p = processor(arg[1])
	P.options(env, p, { spaces = form })
	local game = P.build(env, p, {})
	local space = vecbridge.space(game.observation_space)
	check(form .. ": the game has action_mask", type(game.action_mask) == "function")
	-- t = 0 (even): moving left (2) is invalid with and without A; A while standing only as a pair
	local reset = vecbridge.handle(game, space, { type = "reset", seed = 0 })
	check(form .. ": reset mask", mask_of(reset) == "TTFTT", mask_of(reset))
	local action = form == "flat" and { 0, 1 } or { 0, 1 }
	local step = vecbridge.handle(game, space, { type = "step", action = action })
	check(form .. ": step mask (t = 1)", mask_of(step) == "TTTTT", mask_of(step))
	step = vecbridge.handle(game, space, { type = "step", action = action })
	check(form .. ": step mask (t = 2)", mask_of(step) == "TTFTT", mask_of(step))
	check(form .. ": the mask is the last array", string.sub(step, -5) == "\1\1\0\1\1")
	check(form .. ": declared in the header", string.find(step, '"action_mask":{"$array":1}', 1, true) ~= nil)
end

if failures == 0 then print("ok") else print(failures .. " failure(s)") os.exit(1) end
