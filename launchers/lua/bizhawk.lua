--[[
bizhawk.lua: gym-bizhawk's Lua module, served over vecbridge's protocol.

Every generation of gym-bizhawk processor ends its file with one of

    bizhawk.run(EnvProcessor.new())                          -- v0.3 (current), v0.2
    bizhawk.GymEnv.new("_custom.log"):run(EnvProcessor.new()) -- the guide (v0.1, v0.2)
    bizhawk.new("_nes.log"):run(EnvProcessor.new())           -- the pre-release

after `local bizhawk = require('bizhawk')`. With vecbridge's launchers/lua folder on
package.path that require finds this file, and run() turns the processor into a vecbridge
game (processor_game.lua) served by `vecbridge.serve`, under BizHawk (comm socket) or FCEUX
(LuaSocket, with BizHawk's Lua names added by bizhawk_api.lua). The processor runs unchanged:
NAME, ROM, HASH, ACTION / ACTION_SPACE, OBSERVATION / OBSERVATION_SPACE, setup(self, env,
setup_str) (or the pre-release init(self, env, py_init_str)), reset, step -> reward, done (or
reward, terminated, truncated), and the optional getObservation (without it the observation is
the screen), getInfo, getInvalidActions (an action mask), backup/restore, close.

The `env` a processor gets offers gym-bizhawk's fields and helpers (mode, observation_type,
frameskip, platform, wkdir_with_slash, setKey/setKeys/getKeys, log_info/log_debug, setMode)
and vecbridge's (frameadvance, framecount, random, config, emu). The game options are in
processor_game.lua and docs/backends/fceux.md.
]]

local M = {}

-- ------------------------------------------------------------------ loading our neighbours

local function script_dir()
	local info = debug and debug.getinfo and debug.getinfo(1, "S")
	local src = info and info.source or ""
	local dir = string.match(src, "^@(.*[/\\])")
	if dir then return dir end
	local l = os.getenv("VECBRIDGE_LAUNCHERS")
	if l and l ~= "" then return l .. "/lua/" end
	return "./"
end

M.dir = script_dir()
if not string.find(package.path, M.dir .. "?.lua", 1, true) then
	package.path = M.dir .. "?.lua;" .. package.path
end

local vecbridge = require("vecbridge")
-- emu.lua by path: under FCEUX require("emu") returns FCEUX's own emu library
local E = assert(loadfile(M.dir .. "emu.lua"))()
M.emu = E
M.vecbridge = vecbridge

local unpack = table.unpack or unpack -- luacheck: ignore 143

-- ------------------------------------------------------------------ gym-bizhawk's helpers

function M.eval(code)
	local chunk, err = (loadstring or load)(code)
	if not chunk then return nil, "Compilation error: " .. tostring(err) end
	local ok, result = pcall(chunk)
	if ok then return result end
	return nil, "Runtime error: " .. tostring(result)
end

function M.split(str, sep)
	if sep == nil then return {} end
	local t = {}
	for s in string.gmatch(str, "([^" .. sep .. "]+)") do t[#t + 1] = s end
	return t
end

function M.startswith(str, start)
	return string.sub(str, 1, string.len(start)) == start
end

function M.getenv_safe(name, default)
	local ok, value = pcall(os.getenv, name)
	if ok and value ~= nil then return value end
	return default or ""
end

-- ------------------------------------------------------------------ running protected, failing clearly

-- Run fn so that its errors are caught and emu.frameadvance() still works inside it:
-- xpcall is yieldable on Lua 5.2+/LuaJIT (BizHawk); on Lua 5.1 (FCEUX) fn runs in a
-- coroutine whose yields are handed on to the emulator.
local function protected(fn)
	if _VERSION ~= "Lua 5.1" or rawget(_G, "jit") then
		local tb
		local ok, err = xpcall(fn, function(e)
			tb = debug.traceback(tostring(e), 2)
			return e
		end)
		return ok, err, tb
	end
	if type(rawget(_G, "client")) == "table" and type(rawget(_G, "comm")) == "table" then
		-- BizHawk before 2.9 (Lua 5.1): frameadvance yields the script's own thread, which works
		-- neither inside pcall nor inside a coroutine: run unprotected (as vecbridge.lua does)
		return true, fn()
	end
	local co = coroutine.create(fn)
	local res = { coroutine.resume(co) }
	while res[1] and coroutine.status(co) == "suspended" do
		if coroutine.running() == nil then
			return false, "the processor yielded (emu.frameadvance) outside the emulator's script thread", ""
		end
		local back = { coroutine.yield(unpack(res, 2, table.maxn(res))) }
		res = { coroutine.resume(co, unpack(back, 1, table.maxn(back))) }
	end
	if res[1] then return true, res[2] end
	return false, res[2], debug.traceback(co, tostring(res[2]))
end
M.protected = protected

--- fatal(message): print it to the instance log (stderr) and end the emulator, so that
-- vecbridge reports a LaunchError with this message instead of waiting for a hello.
function M.fatal(message, traceback)
	-- the emulator's own buffered stdout first, so that the message ends the log
	if io and io.stdout then pcall(io.stdout.flush, io.stdout) end
	if traceback and traceback ~= "" then E.log(traceback) end
	E.log("vecbridge processor runtime: " .. tostring(message))
	if E.name then E.fatal_exit(1) end
	error(message, 0)
end

-- ------------------------------------------------------------------ GymEnv

local GymEnv = {}
GymEnv.__index = GymEnv
M.GymEnv = GymEnv

function GymEnv.new(log_path)
	local self = setmetatable({}, GymEnv)
	self.log_path = log_path or "gymenv.log" -- gym-bizhawk's; here log lines go to the instance log
	self.processor = nil
	self.mode = "TRAIN"
	self.observation_type = "VALUE"
	self.frameskip = 1
	self.wkdir_with_slash = (os.getenv("VECBRIDGE_WORKDIR") or ".") .. "/"
	self.backup_data = {}
	self.emu = E
	return self
end

-- gym-bizhawk's key helpers (BizHawk button names, e.g. "P1 Right"; they work under FCEUX too)
local P1_KEYS = {}
for i, b in ipairs(E.BUTTONS) do P1_KEYS[i] = "P1 " .. b end

function GymEnv:getKeys()
	local keys = {}
	for i = 1, #P1_KEYS do keys[P1_KEYS[i]] = false end
	return keys
end

function GymEnv:setKey(key)
	local keys = self:getKeys()
	if key ~= nil and key ~= "" then keys[key] = true end
	E.set_buttons(keys, 1)
end

function GymEnv:setKeys(list)
	local keys = self:getKeys()
	for _, k in ipairs(list or {}) do
		if k ~= "" then keys[k] = true end
	end
	E.set_buttons(keys, 1)
end

--- env:frameadvance([n]): advance n frames (default 1).
function GymEnv:frameadvance(n)
	for _ = 1, n or 1 do E.frameadvance() end
end

function GymEnv:framecount() return E.framecount() end

--- env:random(): a number from the generator seeded by reset(seed) (an integer >= 1).
function GymEnv:random() return self.rng.next() end

function GymEnv:log(str) E.log(tostring(str)) end
function GymEnv:log_info(str) E.log(tostring(str)) end
function GymEnv:log_debug(str)
	if self.mode == "DEBUG" then E.log(tostring(str)) end
end
function GymEnv:setMode(mode) self.mode = mode end
function GymEnv:close() end

--- env:run(processor): serve the processor as a vecbridge game; returns when vecbridge
-- closes the connection (and then exits the emulator). Errors before the handshake are
-- fatal: logged, and the emulator exits.
function GymEnv:run(processor)
	M.served = true
	local ok, err, tb = protected(function() return self:_serve(processor) end)
	if not ok then M.fatal(err, tb) end
end

function GymEnv:_serve(p)
	E.require_emulator("bizhawk.lua (vecbridge)")
	E.install_bizhawk_api()
	if type(p) ~= "table" then error("env:run(processor): expected the processor table, got " .. tostring(p), 0) end
	self.processor = p
	local config = vecbridge.config()
	self.config = config
	local game_mod = require("processor_game")
	game_mod.options(self, p, config)
	local rom = config.rom
	if rom == vecbridge.null or rom == "" then rom = nil end
	E.rom_path = rom

	-- the emulator: full speed; BizHawk may need to open the ROM (as gym-bizhawk does)
	E.speed_max()
	if E.name == "bizhawk" then
		rom = rom or M.processor_rom(p)
		local gi = rawget(_G, "gameinfo")
		if rom and gi and gi.getromname and gi.getromname() == "Null" then
			if not client.openrom(rom) then error("could not open the ROM " .. tostring(rom), 0) end
		end
		E.rom_path = rom
	end
	self.platform = E.system_id()
	local game = game_mod.build(self, p, config)
	-- FCEUX: LuaSocket (bizhawk_api.lua's comm stand-in is not a transport)
	return vecbridge.serve(game, { transport = E.name == "fceux" and "socket" or nil })
end

--- bizhawk.processor_rom(p): the processor's ROM as a path (relative paths are relative to the
-- processor file, whose path processor.lua records in bizhawk.processor_path), or nil.
function M.processor_rom(p)
	local rom = p and p.ROM
	if type(rom) ~= "string" or rom == "" then return nil end
	if string.match(rom, "^/") or string.match(rom, "^%a:[/\\]") or string.match(rom, "^[/\\][/\\]") then return rom end
	local base = M.processor_path and string.match(M.processor_path, "^(.*[/\\])")
	return (base or "") .. rom
end

--- bizhawk.run(processor[, log_path]): gym-bizhawk's v0.2+ entry point, GymEnv.new(log_path):run(processor).
function M.run(processor, log_path)
	local env = GymEnv.new(log_path)
	env:run(processor)
	return env
end

--- bizhawk.new(log_path): gym-bizhawk's pre-release form (its module was GymEnv itself).
M.new = GymEnv.new

return M
