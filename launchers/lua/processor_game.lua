--[[
processor_game.lua: a gym-bizhawk processor as a vecbridge game (the table vecbridge.serve
answers reset/step/render/call with). bizhawk.lua's GymEnv:run(processor) builds it with
P.build(env, processor) after reading the game options; docs/backends/fceux.md describes them.

  observation_type  "value" (getObservation), "image" (the screen), "both", "ram"
  spaces            "flat" (MultiDiscrete / Box, what SB3 trains) or "gym-bizhawk" (its Tuples)
  frameskip, noop_max, reset_state, setup_str, mode, check_hash, rom
]]

local P = {}

local S = require("gymbizhawk_spaces")
local vecbridge = require("vecbridge")

local floor = math.floor

local function fail(msg) error(msg, 0) end
local function truthy(v) return v ~= nil and v ~= false end

-- A step's reward as gym-bizhawk adds it up (`reward = reward + r`): Lua reads a numeric string
-- as its number there, and nil or a table is an error; true and false count 1 and 0.
local function step_reward(r)
	if type(r) == "number" then return r end
	if type(r) == "boolean" then return r and 1 or 0 end
	local n = type(r) == "string" and tonumber(r) or nil
	if n then return n end
	local got = type(r) == "string" and string.format("the string %q", r) or tostring(r)
	fail("the processor's step must return its reward (a number) first, then done: got " .. got)
end

local function option(config, names, default)
	for _, name in ipairs(type(names) == "table" and names or { names }) do
		local v = config[name]
		if v ~= nil and v ~= vecbridge.null then return v end
	end
	return default
end

-- a small seeded generator (minstd: exact in doubles) for the idle frames after a reset
local function rng_new(seed)
	local r = {}
	function r.seed(s) r.state = (floor(tonumber(s) or 0) % 2147483646) + 1 end
	function r.next()
		r.state = (r.state * 48271) % 2147483647
		return r.state
	end
	r.seed(seed)
	return r
end

-- the HASH check: "warn" (gym-bizhawk's behaviour: log "not match" and run), "error", "off"
-- a whole-number option (a number, or a string of one), at least `least`; else the launch fails
local function whole(config, name, default, least)
	local raw = option(config, name, default)
	local n = tonumber(raw)
	if n == nil or n < least or n ~= floor(n) then
		fail(name .. " must be a whole number, " .. least .. " or more, got " .. tostring(raw))
	end
	return floor(n)
end

local function check_hash(env, p, config)
	local E = env.emu
	local mode = option(config, "check_hash", "warn")
	if mode == true then mode = "error" elseif mode == false then mode = "off" end
	if mode ~= "warn" and mode ~= "error" and mode ~= "off" then
		fail("check_hash must be \"warn\", \"error\" or \"off\" (or true/false), got " .. tostring(mode))
	end
	local want = E.normalize_hash(p.HASH)
	if want == "" or mode == "off" then return nil end
	local got, how = E.rom_hash(want, E.rom_path)
	local result = { expected = want, actual = got, match = got == want, how = how }
	local rom = tostring(E.rom_path or (rawget(_G, "gameinfo") and gameinfo.getromname()) or "?")
	if result.match then
		E.log(string.format("vecbridge processor runtime: HASH match: %s (%s)", got, rom))
	else
		local msg = string.format("HASH not match for processor %q: it expects the ROM with hash %s, but the loaded ROM " ..
			"(%s) has %s [%s].", tostring(p.NAME), want, rom, got, how)
		if mode == "error" then
			fail(msg .. " Load the ROM the processor was written for, or set the game option check_hash=\"warn\" " ..
				"(or HASH = \"\" in the processor) to run anyway.")
		end
		E.log("vecbridge processor runtime: " .. msg .. " Running anyway (gym-bizhawk does the same); the game " ..
			"option check_hash=\"error\" makes this fatal.")
	end
	return result
end

--- P.options(env, p, config): read and check the game options into env (before setup, which
-- may read env.observation_type and env.mode).
function P.options(env, p, config)
	if type(p.step) ~= "function" then -- (it failed at the first step, on a line of this file)
		fail("the processor has no step(self, action) function (it returns reward, done); got " .. type(p.step))
	end
	local obs_type = string.lower(tostring(option(config, "observation_type",
		type(p.getObservation) == "function" and "value" or "image")))
	if obs_type ~= "value" and obs_type ~= "image" and obs_type ~= "both" and obs_type ~= "ram" then
		fail("observation_type must be \"value\", \"image\", \"both\" or \"ram\", got \"" .. obs_type .. "\"")
	end
	if (obs_type == "value" or obs_type == "both") and type(p.getObservation) ~= "function" then
		fail("observation_type \"" .. obs_type .. "\" needs the processor's getObservation() (without it the " ..
			"observation is the screen: observation_type=\"image\")")
	end
	env.observation_type = string.upper(obs_type)
	env.spaces = option(config, "spaces", "flat")
	if env.spaces ~= "flat" and env.spaces ~= "gym-bizhawk" then
		fail("spaces must be \"flat\" or \"gym-bizhawk\", got " .. tostring(env.spaces))
	end
	env.generation = S.generation(p)
	env.frameskip = whole(config, "frameskip", 1, 1)
	env.noop_max = whole(config, "noop_max", 0, 0)
	env.reset_state = option(config, "reset_state", "poweron")
	if env.reset_state ~= "poweron" and env.reset_state ~= "none" then
		fail("reset_state must be \"poweron\" or \"none\", got " .. tostring(env.reset_state))
	end
	-- gym-bizhawk v0.3 processors skip drawing in "FAST_RUN"; older ones in "TRAIN"
	env.mode = tostring(option(config, "mode", env.generation == "v3" and "FAST_RUN" or "TRAIN"))
	env.setup_str = tostring(option(config, { "setup_str", "setup_str_for_lua", "lua_init_str" }, ""))
	env.rng = rng_new(tonumber(os.getenv("VECBRIDGE_INSTANCE") or "0") or 0)
end

--- P.build(env, p, config) -> the vecbridge game table
function P.build(env, p, config)
	local E = env.emu
	env.hash = check_hash(env, p, config)

	-- one frame first (FCEUX takes savestates only once a frame ran), then the power-on state
	E.frameadvance()
	env.poweron = E.state_create()
	if type(p.setup) == "function" then p:setup(env, env.setup_str)
	elseif type(p.init) == "function" then p:init(env, env.setup_str) end -- gym-bizhawk's pre-release name

	local action_desc = p.ACTION_SPACE or p.ACTION
	if action_desc == nil then fail("the processor declares no ACTION (or ACTION_SPACE)") end
	local actions
	if type(action_desc) == "table" and action_desc.type ~= nil then -- a JSON description: as is
		actions = { space = action_desc, to_processor = function(a) return a end }
	else
		actions = S.actions(action_desc, env.generation, env.spaces)
	end
	env.actions = actions

	-- the first reset (also tells the number of values getObservation returns)
	P.reset(env, p, nil, nil)
	env.fresh = true
	local t = env.observation_type
	local value, image
	if t == "VALUE" or t == "BOTH" then
		local desc = p.OBSERVATION_SPACE or p.OBSERVATION
		if desc == nil then fail("the processor declares no OBSERVATION (or OBSERVATION_SPACE)") end
		local first = p:getObservation()
		if type(first) ~= "table" then fail("getObservation() must return a list of numbers, got " .. tostring(first)) end
		env.values = S.observations(desc, env.generation, env.spaces, #first)
		value = env.values.space
		vecbridge.space(value, "OBSERVATION")
	end
	if t == "IMAGE" or t == "BOTH" then
		env.screen_h, env.screen_w = E.screen_size()
		-- the RGB image the user gets; the emulator's own bytes travel (E.screen_format), converted on the host
		image = { type = "Box", low = 0, high = 255, shape = { env.screen_h, env.screen_w, 3 }, dtype = "uint8",
			pixel_format = E.screen_format() }
	end
	local obs_space
	if t == "VALUE" then obs_space = value
	elseif t == "IMAGE" then obs_space = image
	elseif t == "BOTH" and env.spaces == "gym-bizhawk" then obs_space = { type = "Tuple", spaces = { image, value } }
	elseif t == "BOTH" then obs_space = { type = "Dict", spaces = { value = value, image = image } }
	else
		env.ram_size = E.ram_size()
		obs_space = { type = "Box", low = 0, high = 255, shape = { env.ram_size }, dtype = "uint8" }
	end

	local metadata = { render_modes = vecbridge.json_array({ "rgb_array" }), render_fps = 60 / env.frameskip }
	if env.hash then metadata.hash = env.hash end
	local game = {
		name = tostring(p.NAME or "processor"),
		observation_space = obs_space,
		action_space = actions.space,
		metadata = metadata,
	}
	function game.reset(_, seed, options)
		local noops = P.reset(env, p, seed, options)
		return P.observe(env, p), P.info(p, { noops = noops })
	end
	function game.step(_, action) return P.step(env, p, action) end
	function game.render(_)
		local h, w = E.screen_size()
		return vecbridge.image(E.screen_format(), h, w, P.image(env))
	end
	function game.close(_)
		if type(p.close) == "function" then p:close() end
	end
	function game.framecount(_) return E.framecount() end
	function game.save_state(_, name) return P.save(env, p, name) end
	function game.load_state(_, name) return P.load(env, p, name) end
	function game.read_ram(_, addr, n)
		return vecbridge.array("uint8", { n or 1 }, E.read_bytes(addr, n or 1))
	end
	if type(p.getInvalidActions) == "function" then
		if actions.discrete then
			function game.action_mask(_)
				local mask, empty = S.action_mask(actions.items, p:getInvalidActions())
				if empty and not env.warned_empty_mask then
					env.warned_empty_mask = true
					E.log("vecbridge processor runtime: getInvalidActions() rules out every value of action item " .. empty ..
						": its mask is left all true (this is logged once)")
				end
				return mask
			end
		else
			E.log("vecbridge processor runtime: getInvalidActions() is not sent as an action mask: the action space " ..
				"has continuous items (masks need discrete ones)")
		end
	end
	-- any other name reaches the processor: envs.call("getInfo"), get_attr("NAME")
	setmetatable(game, {
		__index = function(_, k)
			local v = p[k]
			if type(v) == "function" then return function(_, ...) return v(p, ...) end end
			return v
		end,
	})
	return game
end

-- the screen in the emulator's own bytes (vecbridge converts them to RGB on the host); under
-- BizHawk's comm socket EmuHawk sends it itself, as a PNG frame right after the message
function P.image(env)
	local E = env.emu
	local conn = vecbridge.connection
	if E.name == "bizhawk" and conn and conn.name == "comm" then return vecbridge.raw_frame(E.send_screenshot) end
	local bytes, h, w, first = E.screen_bytes()
	if env.screen_h and E.screen_format() ~= "png" and (h ~= env.screen_h or w ~= env.screen_w) then
		fail(string.format("the screen is %dx%d now, but it was %dx%d when the observation space was declared", h, w,
			env.screen_h, env.screen_w))
	end
	return vecbridge.view(bytes, first) -- no copy of the screen in Lua
end

function P.observe(env, p)
	local t = env.observation_type
	if t == "VALUE" then return env.values.to_wire(p:getObservation()) end
	if t == "IMAGE" then return P.image(env) end
	if t == "BOTH" then
		local v = env.values.to_wire(p:getObservation())
		if env.spaces == "gym-bizhawk" then return { P.image(env), v } end
		return { value = v, image = P.image(env) }
	end
	return env.emu.read_bytes(0, env.ram_size)
end

function P.info(p, extra)
	local info = {}
	if type(p.getInfo) == "function" then
		local got = p:getInfo()
		if type(got) == "table" then for k, v in pairs(got) do info[k] = v end end
	end
	if extra then for k, v in pairs(extra) do info[k] = v end end
	return info
end

-- reset the emulator and the processor; returns the number of idle frames run
function P.reset(env, p, seed, options)
	local E = env.emu
	if seed ~= nil then
		env.rng.seed(seed)
		math.randomseed(floor(seed % 2147483647))
	end
	options = type(options) == "table" and options or {}
	local first_none = env.fresh and env.reset_state == "none"
	env.fresh = false
	if env.reset_state == "poweron" then E.state_load(env.poweron) end
	E.clear_buttons(1)
	if not first_none and type(p.reset) == "function" then p:reset() end
	local noops = tonumber(options.noops)
	if noops == nil then noops = env.noop_max > 0 and (env.rng.next() % (env.noop_max + 1)) or 0 end
	for _ = 1, noops do
		E.clear_buttons(1)
		E.frameadvance()
	end
	env.is_reset = true
	return noops
end

function P.step(env, p, action)
	local E = env.emu
	local acts = env.actions.to_processor(action)
	local total, terminated, truncated, frames = 0, false, false, 0
	while frames < env.frameskip do
		local before = E.framecount()
		local r, a, b = p:step(acts)
		local advanced = E.framecount() - before
		if advanced <= 0 then -- a step that advanced no frame gets one (as gym-bizhawk does)
			E.frameadvance()
			advanced = 1
		end
		frames = frames + advanced
		total = total + step_reward(r)
		terminated, truncated = truthy(a), truthy(b)
		if terminated or truncated then break end
	end
	env.is_reset = false
	return P.observe(env, p), total, terminated, truncated, P.info(p)
end

function P.save(env, p, name)
	name = tostring(name or "default")
	env.states = env.states or {}
	env.states[name] = env.emu.state_create()
	if type(p.backup) == "function" then env.backup_data[name] = p:backup() end
	return true
end

function P.load(env, p, name)
	name = tostring(name or "default")
	local s = env.states and env.states[name]
	if not s then fail("load_state: no state saved as '" .. name .. "'") end
	env.emu.state_load(s)
	if type(p.restore) == "function" then p:restore(env.backup_data[name]) end
	return P.observe(env, p)
end

return P
