--[[
processor.lua: vecbridge's runtime for gym-bizhawk-style processors.

Start the emulator with this script (FCEUX: `--loadlua processor.lua`, EmuHawk:
`--lua=processor.lua`) and name the processor in the game option `processor`
(vecbridge.make(..., processor="escape_from_pong") or a path to a .lua file), or in
the environment variable VECBRIDGE_PROCESSOR. A bare name is looked up in
launchers/lua/processors/.

It puts vecbridge's launchers/lua folder on package.path (EmuHawk does not read
LUA_PATH), loads the processor file and runs it. The file itself ends as gym-bizhawk
teaches, `bizhawk.run(EnvProcessor.new())`, `bizhawk.GymEnv.new(...):run(...)` or
`bizhawk.new(...):run(...)` (bizhawk.lua, found by `require('bizhawk')`, serves it over
vecbridge's protocol). A file that instead returns its processor table (or defines a global
EnvProcessor with .new) is served the same way.

Any error before the handshake (a missing file, a syntax error, a HASH mismatch) is
printed to the instance log and ends the emulator, so that vecbridge reports it in
its LaunchError right away.
]]

local function script_dir()
	local info = debug and debug.getinfo and debug.getinfo(1, "S")
	local dir = info and string.match(info.source or "", "^@(.*[/\\])")
	if dir then return dir end
	local l = os.getenv("VECBRIDGE_LAUNCHERS")
	if l and l ~= "" then return l .. "/lua/" end
	return "./"
end

local LUA_DIR = script_dir()
package.path = LUA_DIR .. "?.lua;" .. package.path

local bizhawk = require("bizhawk")
package.loaded["bizhawk"] = bizhawk
local vecbridge = bizhawk.vecbridge

local function exists(path)
	local f = io.open(path, "rb")
	if f then f:close() return true end
	return false
end

local function find_processor()
	local name
	local ok, config = pcall(vecbridge.config)
	if ok and type(config) == "table" and type(config.processor) == "string" then name = config.processor end
	if name == nil or name == "" then name = os.getenv("VECBRIDGE_PROCESSOR") end
	if (name == nil or name == "") and type(rawget(_G, "userdata")) == "table" then
		local ok2, v = pcall(userdata.get, "vecbridge_processor")
		if ok2 and type(v) == "string" then name = v end
	end
	if name == nil or name == "" then
		error("no processor given: pass the game option processor=\"name or path.lua\" " ..
			"(or set VECBRIDGE_PROCESSOR)", 0)
	end
	local candidates = { name, LUA_DIR .. "processors/" .. name .. ".lua", LUA_DIR .. "processors/" .. name }
	for _, path in ipairs(candidates) do
		if exists(path) then return path end
	end
	error("processor " .. string.format("%q", name) .. " not found (tried " .. table.concat(candidates, ", ") .. ")", 0)
end

local ok, err, tb = bizhawk.protected(function()
	local path = find_processor()
	bizhawk.processor_path = path -- a relative ROM is relative to the processor file
	local chunk, load_err = loadfile(path)
	if not chunk then error("cannot load the processor " .. path .. ": " .. tostring(load_err), 0) end
	local result = chunk()
	if bizhawk.served then return end
	-- the file did not call env:run(): serve what it returned, or its EnvProcessor
	local processor = result
	if type(processor) ~= "table" or processor.step == nil then
		local ep = rawget(_G, "EnvProcessor")
		if type(ep) == "table" and type(ep.new) == "function" then processor = ep.new() end
	end
	if type(processor) ~= "table" then
		error("the processor " .. path .. " neither called bizhawk.GymEnv.new(...):run(processor) nor returned " ..
			"a processor table", 0)
	end
	bizhawk.GymEnv.new():run(processor)
end)
if not ok then bizhawk.fatal(err, tb) end
