--[[
bizhawk.lua: gym-bizhawk's Lua module, served over vecbridge's protocol.

A processor written the way gym-bizhawk's guide teaches ends with

    package.path = package.path .. ';../../gymbizhawk/bizhawk.lua'
    local bizhawk = require('bizhawk')
    ...
    local env = bizhawk.GymEnv.new("_custom.log")
    env:run(EnvProcessor.new())

With vecbridge's launchers/lua folder on package.path, `require('bizhawk')` finds this
file, and `env:run(processor)` turns the processor into a vecbridge game
(`vecbridge.serve`): it answers reset/step/render/call for vecbridge, under BizHawk
(comm socket) or FCEUX (LuaSocket), through emu.lua. The processor runs unchanged.

The processor declares NAME, ROM, HASH, ACTION (list of type strings), OBSERVATION
(one type string, applied to every value of getObservation(); the count comes from
getObservation's length unless the string has "[N]") and implements
setup(self, env, setup_str), reset(self), step(self, action) -> reward, done
(or reward, terminated, truncated) and getObservation(self). Optional: getInfo(self)
(added to every info), backup/restore (with save_state/load_state), close(self).
gym-bizhawk's newer names ACTION_SPACE/OBSERVATION_SPACE work too.

Game options (vecbridge.make(..., option=value)), all optional:

| option | default | meaning |
|---|---|---|
| observation_type | "value" ("image" without getObservation) | "value": getObservation() as OBSERVATION says; "image": the screen, uint8 [H, W, 3]; "both": Dict {value, image}; "ram": main RAM, uint8 [size] |
| frameskip | 1 | emulator frames per env step (see below) |
| noop_max | 0 | after each reset, 0..noop_max idle frames chosen by the seed |
| reset_state | "poweron" | "poweron": every reset first reloads a savestate taken at start-up, then calls processor:reset(); "none": only processor:reset() (gym-bizhawk's behaviour) |
| setup_str | "" | the string passed to processor:setup(env, setup_str) |
| mode | "TRAIN" | env.mode, which processors read to skip drawing ("TRAIN", "FAST_RUN", "RUN", "DEBUG") |
| check_hash | true | compare HASH with the loaded ROM |
| rom | nil | the ROM file's path (FCEUX: used for a SHA-1 HASH; BizHawk: opened when EmuHawk started without a ROM) |

frameskip: one env step calls processor:step(action) with the same action until
`frameskip` frames have passed, summing the rewards and stopping early when it returns
done (terminated or truncated). A step call that does not advance the emulator
itself is followed by one emu.frameadvance() (as gym-bizhawk does), so every call
covers at least one frame. gym-bizhawk's own frameskip=k (k+1 calls) is frameskip=k+1 here.

seed: reset(seed) seeds a small generator (and math.randomseed) that picks the number
of idle frames (0..noop_max) run after processor:reset(); reset(None) draws the next
number from the same generator. With reset_state "poweron" the emulator itself is
deterministic, so the same seed and actions give the same observations.
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

-- ------------------------------------------------------------------ spaces

local function parse_items(list)
	-- "int 0 3 [2]" -> two items {kind="int"}
	local items = {}
	for _, text in ipairs(list) do
		local body, count = string.match(text, "^%s*(.-)%s*%[%s*(%d+)%s*%]%s*$")
		body = body or text
		local kind = string.match(body, "^%s*(%a+)")
		for _ = 1, tonumber(count or 1) do items[#items + 1] = kind end
	end
	return items
end

local function as_list(v)
	if type(v) == "string" then return { v } end
	return v
end

-- the value space of OBSERVATION for n values
local function value_space(obs, n)
	if type(obs) == "table" and obs.type ~= nil then return obs end -- a JSON-form space: as is
	local list = as_list(obs)
	if type(list) ~= "table" or #list == 0 then
		error("OBSERVATION must be a type string such as \"int\" or \"float 0 1\" (got " .. tostring(obs) .. ")", 0)
	end
	if #list == 1 and not string.find(list[1], "%[") then
		if n == nil then error("OBSERVATION has no [N] and getObservation() is not defined", 0) end
		return { list[1] .. " [" .. n .. "]" }
	end
	return list
end

-- ------------------------------------------------------------------ a small seeded generator

local function rng_new(seed)
	local r = { state = 1 }
	function r.seed(s)
		s = math.floor(tonumber(s) or 0)
		r.state = (s % 2147483646) + 1
	end
	function r.next() -- minstd: exact in doubles
		r.state = (r.state * 48271) % 2147483647
		return r.state
	end
	r.seed(seed or 0)
	return r
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

local function truthy(v) return v ~= nil and v ~= false end

local function option(config, name, default)
	local v = config[name]
	if v == nil or v == vecbridge.null then return default end
	return v
end

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

	local obs_type = string.lower(tostring(option(config, "observation_type",
		type(p.getObservation) == "function" and "value" or "image")))
	if obs_type ~= "value" and obs_type ~= "image" and obs_type ~= "both" and obs_type ~= "ram" then
		error("observation_type must be \"value\", \"image\", \"both\" or \"ram\", got \"" .. obs_type .. "\"", 0)
	end
	if (obs_type == "value" or obs_type == "both") and type(p.getObservation) ~= "function" then
		error("observation_type \"" .. obs_type .. "\" needs the processor's getObservation()", 0)
	end
	self.observation_type = string.upper(obs_type)
	self.frameskip = math.floor(tonumber(option(config, "frameskip", 1)) or 1)
	if self.frameskip < 1 then error("frameskip must be 1 or more, got " .. tostring(config.frameskip), 0) end
	self.noop_max = math.floor(tonumber(option(config, "noop_max", 0)) or 0)
	self.reset_state = option(config, "reset_state", "poweron")
	if self.reset_state ~= "poweron" and self.reset_state ~= "none" then
		error("reset_state must be \"poweron\" or \"none\", got " .. tostring(self.reset_state), 0)
	end
	self.mode = tostring(option(config, "mode", "TRAIN"))
	local rom_path = option(config, "rom", nil)
	E.rom_path = rom_path
	self.rng = rng_new(tonumber(os.getenv("VECBRIDGE_INSTANCE") or "0") or 0)

	-- the emulator: full speed; BizHawk may need to open the ROM (as gym-bizhawk does)
	E.speed_max()
	if E.name == "bizhawk" then
		local rom = rom_path or p.ROM
		local gi = rawget(_G, "gameinfo")
		if rom and rom ~= "" and gi and gi.getromname and gi.getromname() == "Null" then
			if not client.openrom(rom) then error("could not open the ROM " .. tostring(rom), 0) end
		end
	end
	self.platform = E.system_id()

	-- HASH: the ROM must be the one the processor was written for
	local want = E.normalize_hash(p.HASH)
	if want ~= "" and truthy(option(config, "check_hash", true)) then
		local got, how = E.rom_hash(want, rom_path)
		if got ~= want then
			error(string.format("HASH mismatch for processor %q: it expects the ROM with hash %s, but the loaded ROM " ..
				"(%s) has %s [%s]. Load the ROM the processor was written for, or set HASH = \"\" in the processor " ..
				"(or the game option check_hash=False) to skip the check.", tostring(p.NAME), want,
				tostring(rom_path or (rawget(_G, "gameinfo") and gameinfo.getromname()) or "?"), got, how), 0)
		end
	end

	-- one frame first (FCEUX takes savestates only once a frame ran), then the power-on state
	E.frameadvance()
	self.poweron = E.state_create()

	if type(p.setup) == "function" then p:setup(self, tostring(option(config, "setup_str", ""))) end
	local action_desc = p.ACTION or p.ACTION_SPACE
	local obs_desc = p.OBSERVATION or p.OBSERVATION_SPACE
	if action_desc == nil then error("the processor declares no ACTION", 0) end
	if type(action_desc) == "table" and #action_desc == 0 and action_desc.type == nil then
		error("the processor's ACTION is an empty list", 0)
	end
	local type_strings = type(action_desc) == "string" or (type(action_desc) == "table" and action_desc.type == nil)
	self.action_items = type_strings and parse_items(as_list(action_desc)) or nil -- nil: a JSON-form space, as is
	self.single_action = type(action_desc) == "string" or (type(action_desc) == "table" and action_desc.type == nil and
		#action_desc == 1 and not string.find(action_desc[1], "%["))
	vecbridge.space(action_desc, "ACTION")

	-- the first reset (also tells the number of values getObservation returns)
	self:_reset(nil, nil)
	self.fresh = true
	local obs_space
	local value, image
	if obs_type == "value" or obs_type == "both" then
		if obs_desc == nil then error("the processor declares no OBSERVATION", 0) end
		local first = p:getObservation()
		value = value_space(obs_desc, type(first) == "table" and #first or nil)
		vecbridge.space(value, "OBSERVATION")
	end
	if obs_type == "image" or obs_type == "both" then
		local h, w = E.screen_size()
		self.screen_h, self.screen_w = h, w
		-- the RGB image the user gets; the emulator's own bytes travel (E.screen_format), converted on the host
		image = { type = "Box", low = 0, high = 255, shape = { h, w, 3 }, dtype = "uint8", pixel_format = E.screen_format() }
	end
	if obs_type == "value" then obs_space = value
	elseif obs_type == "image" then obs_space = image
	elseif obs_type == "both" then obs_space = { type = "Dict", spaces = { value = value, image = image } }
	else
		self.ram_size = E.ram_size()
		obs_space = { type = "Box", low = 0, high = 255, shape = { self.ram_size }, dtype = "uint8" }
	end

	local env = self
	local game = {
		name = tostring(p.NAME or "processor"),
		observation_space = obs_space,
		action_space = action_desc,
		metadata = { render_modes = vecbridge.json_array({ "rgb_array" }), render_fps = 60 / self.frameskip },
	}
	function game.reset(_, seed, options)
		local noops = env:_reset(seed, options)
		return env:_observe(), env:_info({ noops = noops })
	end
	function game.step(_, action) return env:_step(action) end
	function game.render(_) return env:_screen() end
	function game.close(_)
		if type(p.close) == "function" then p:close() end
	end
	function game.framecount(_) return E.framecount() end
	function game.save_state(_, name) return env:_save(name) end
	function game.load_state(_, name) return env:_load(name) end
	function game.read_ram(_, addr, n)
		return vecbridge.array("uint8", { n or 1 }, E.read_bytes(addr, n or 1))
	end
	-- any other name reaches the processor: envs.call("getInfo"), get_attr("NAME")
	setmetatable(game, {
		__index = function(_, k)
			local v = p[k]
			if type(v) == "function" then return function(_, ...) return v(p, ...) end end
			return v
		end,
	})
	return vecbridge.serve(game)
end

-- observation of the current frame, as declared
function GymEnv:_observe()
	local t = self.observation_type
	if t == "VALUE" then return self.processor:getObservation() end
	if t == "IMAGE" then return self:_image() end
	if t == "BOTH" then return { value = self.processor:getObservation(), image = self:_image() } end
	return E.read_bytes(0, self.ram_size)
end

-- the screen in the emulator's own bytes (vecbridge converts them to RGB on the host); under
-- BizHawk's comm socket EmuHawk sends it itself, as a PNG frame right after the message
function GymEnv:_image()
	local conn = vecbridge.connection
	if E.name == "bizhawk" and conn and conn.name == "comm" then return vecbridge.raw_frame(E.send_screenshot) end
	local bytes, h, w, first = E.screen_bytes()
	if self.screen_h and E.screen_format() ~= "png" and (h ~= self.screen_h or w ~= self.screen_w) then
		error(string.format("the screen is %dx%d now, but it was %dx%d when the observation space was declared", h, w,
			self.screen_h, self.screen_w), 0)
	end
	return vecbridge.view(bytes, first) -- no copy of the screen in Lua
end

function GymEnv:_screen()
	local h, w = E.screen_size()
	return vecbridge.image(E.screen_format(), h, w, self:_image())
end

function GymEnv:_info(extra)
	local info = {}
	local p = self.processor
	if type(p.getInfo) == "function" then
		local got = p:getInfo()
		if type(got) == "table" then for k, v in pairs(got) do info[k] = v end end
	end
	if extra then for k, v in pairs(extra) do info[k] = v end end
	return info
end

-- reset the emulator and the processor; returns the number of idle frames run
function GymEnv:_reset(seed, options)
	local p = self.processor
	if seed ~= nil then
		self.rng.seed(seed)
		math.randomseed(math.floor(seed % 2147483647))
	end
	options = type(options) == "table" and options or {}
	local first_none = self.fresh and self.reset_state == "none"
	self.fresh = false
	if self.reset_state == "poweron" then
		E.state_load(self.poweron)
	end
	E.clear_buttons(1)
	if not first_none and type(p.reset) == "function" then p:reset() end
	local noops = tonumber(options.noops)
	if noops == nil then noops = self.noop_max > 0 and (self.rng.next() % (self.noop_max + 1)) or 0 end
	for _ = 1, noops do
		E.clear_buttons(1)
		E.frameadvance()
	end
	return noops
end

-- the action as gym-bizhawk hands it to step(): a list, "bool" items as booleans
function GymEnv:_action(action)
	if self.action_items == nil then return action end
	local list = action
	if self.single_action then list = { action } end
	if type(list) ~= "table" then list = { list } end
	local acts = {}
	for i, kind in ipairs(self.action_items) do
		local v = list[i]
		if kind == "bool" then
			acts[i] = (v == true or v == 1)
		else
			acts[i] = v
		end
	end
	return acts
end

function GymEnv:_step(action)
	local p = self.processor
	local acts = self:_action(action)
	local total, terminated, truncated = 0, false, false
	local frames = 0
	while frames < self.frameskip do
		local before = E.framecount()
		local r, a, b = p:step(acts)
		local advanced = E.framecount() - before
		if advanced <= 0 then
			E.frameadvance()
			advanced = 1
		end
		frames = frames + advanced
		if type(r) == "number" then total = total + r elseif r == true then total = total + 1 end
		terminated, truncated = truthy(a), truthy(b)
		if terminated or truncated then break end
	end
	return self:_observe(), total, terminated, truncated, self:_info()
end

function GymEnv:_save(name)
	name = tostring(name or "default")
	self.states = self.states or {}
	self.states[name] = E.state_create()
	if type(self.processor.backup) == "function" then self.backup_data[name] = self.processor:backup() end
	return true
end

function GymEnv:_load(name)
	name = tostring(name or "default")
	local s = self.states and self.states[name]
	if not s then error("load_state: no state saved as '" .. name .. "'", 0) end
	E.state_load(s)
	if type(self.processor.restore) == "function" then self.processor:restore(self.backup_data[name]) end
	return self:_observe()
end

--- bizhawk.run(processor[, log_path]): gym-bizhawk's shortcut for GymEnv.new(log_path):run(processor).
function M.run(processor, log_path)
	local env = GymEnv.new(log_path)
	env:run(processor)
	return env
end

return M
