--[[
probe_processor.lua: what a gym-bizhawk processor file declares, read without an emulator.

    lua5.4 probe_processor.lua /path/to/processor.lua

Prints one JSON object: {"rom": ROM or null, "name": NAME or null, "hash": HASH or null,
"unset": [environment variables the processor read that are not set], "error": text or null}.
vecbridge.backends.processor_rom runs it to take the ROM from the processor when the caller
gives none (FCEUX needs its ROM on the command line before any Lua runs).

The file runs as in the emulator, with `require('bizhawk')` answered by a stand-in whose
run()/GymEnv.new():run()/new():run() capture the processor and stop, and with the emulator's
Lua tables (emu, memory, joypad, ...) replaced by stand-ins whose functions return {}. Only
the construction of the processor runs (EnvProcessor.new()); its setup, reset and step do not.
]]

local here = string.match(debug.getinfo(1, "S").source or "", "^@(.*[/\\])") or "./"
package.path = here .. "?.lua;" .. package.path
local vecbridge = require("vecbridge")

local path = arg and arg[1]
if not path then
	io.stderr:write("usage: lua probe_processor.lua PROCESSOR.lua\n")
	os.exit(2)
end

local unset, seen = {}, {}
local getenv = os.getenv
os.getenv = function(name) -- luacheck: ignore 122
	local v = getenv(name)
	if (v == nil or v == "") and not seen[name] then
		seen[name] = true
		unset[#unset + 1] = tostring(name)
	end
	return v
end

local STOP = {}
local captured
local function capture(p)
	captured = p
	error(STOP, 0)
end

local stub_mt = { __index = function() return function() return {} end end }
for _, name in ipairs({ "emu", "client", "memory", "mainmemory", "joypad", "savestate", "memorysavestate", "gameinfo",
	"gui", "comm", "event", "bizstring", "console", "userdata", "movie", "input", "rom", "ppu", "sound", "forms",
	"tastudio", "FCEU" }) do
	if rawget(_G, name) == nil then _G[name] = setmetatable({}, stub_mt) end
end

local function new_env() return setmetatable({ run = function(_, p) capture(p) end }, stub_mt) end
local bizhawk = {
	run = capture,
	new = new_env,
	GymEnv = { new = new_env },
	getenv_safe = function(name, default)
		local ok, v = pcall(os.getenv, name)
		if ok and v ~= nil then return v end
		return default or ""
	end,
	split = function(str, sep)
		local t = {}
		if sep == nil then return t end
		for s in string.gmatch(str, "([^" .. sep .. "]+)") do t[#t + 1] = s end
		return t
	end,
	startswith = function(str, start) return string.sub(str, 1, #start) == start end,
	eval = function() return nil end,
}
package.loaded["bizhawk"] = bizhawk
package.preload["bizhawk"] = function() return bizhawk end

local result = { rom = vecbridge.null, name = vecbridge.null, hash = vecbridge.null, error = vecbridge.null }
local chunk, err = loadfile(path)
if not chunk then
	result.error = "cannot load the processor: " .. tostring(err)
else
	local ok, e = pcall(chunk)
	if ok and captured == nil then
		local p = e
		if type(p) ~= "table" or p.step == nil then
			local ep = rawget(_G, "EnvProcessor")
			if type(ep) == "table" and type(ep.new) == "function" then
				local ok2, made = pcall(ep.new)
				if ok2 then p = made else e = made end
			end
		end
		if type(p) == "table" then captured = p end
	end
	if captured == nil and not (not ok and e == STOP) then
		result.error = ok and "the processor file neither ran bizhawk.run(...) nor returned its processor" or tostring(e)
	end
end
if type(captured) == "table" then
	for _, key in ipairs({ "ROM", "NAME", "HASH" }) do
		local v = captured[key]
		if type(v) == "string" and v ~= "" then result[string.lower(key)] = v end
	end
end
result.unset = vecbridge.json_array(unset)
io.stdout:write(vecbridge.json_encode(result), "\n")
