-- Escape from Pong (Halley's Comet Software, BSD license; Debian package `efp`,
-- /usr/share/nes/efp.nes) as a gym-bizhawk processor.
--
-- Written the way gym-bizhawk's guide teaches, with BizHawk's Lua names (mainmemory,
-- emu.frameadvance, memorysavestate, env:setKeys): it runs in EmuHawk, and in FCEUX
-- through vecbridge's launchers/lua/emu.lua, which adds those names to FCEUX.
-- The RAM addresses below were found by diffing RAM dumps: docs/games/escape-from-pong.md.
--
-- Action (Discrete(9)): thrust with the D-pad (the ball accelerates away from the
-- pressed direction): 0 none, 1 up, 2 down, 3 left, 4 right, 5 up+left, 6 up+right,
-- 7 down+left, 8 down+right.
-- Reward: +1 when the ball escapes the screen (the next level loads), -1 when the level
-- restarts (the ball touched a red wall or got caught by the paddle).
-- Terminated: after `lives` restarts (default 3; the game itself never ends).
-- Truncated: after `max_steps` processor steps (frames), when set (default 0: never).
-- Observation ("value", 8 floats): ball x, ball y (in 2-pixel units, with fractions),
-- ball x/y velocity, paddle x, paddle y, paddle kind (0x1D), lives left.
-- Options come from vecbridge's game options (env.config), else from setup_str
-- ("lives=3,max_steps=0").

package.path = package.path .. ';../../gymbizhawk/bizhawk.lua'
local bizhawk = require('bizhawk')

-- RAM (NES work RAM, $0000-$07FF)
local BALL_X_FRAC, BALL_X = 0x15, 0x16     -- ball x, 8.8 fixed point, 2-pixel units
local BALL_Y_FRAC, BALL_Y = 0x17, 0x18     -- ball y, same
local BALL_VX_LO, BALL_VX_HI = 0x19, 0x1A  -- x velocity, signed 8.8 per frame
local BALL_VY_LO, BALL_VY_HI = 0x1B, 0x1C  -- y velocity, signed 8.8 per frame
local PADDLE_KIND, PADDLE_X, PADDLE_Y = 0x1D, 0x1E, 0x1F
local PAUSE = 0x02                         -- non-zero (and not 2) while a level (re)starts
local LEVEL_PTR_LO, LEVEL_PTR_HI = 0x31, 0x32 -- pointer to the current level's script in ROM

local DIRECTIONS = {
	[0] = {},
	{ "P1 Up" }, { "P1 Down" }, { "P1 Left" }, { "P1 Right" },
	{ "P1 Up", "P1 Left" }, { "P1 Up", "P1 Right" }, { "P1 Down", "P1 Left" }, { "P1 Down", "P1 Right" },
}

local function signed16(lo, hi)
	local v = hi * 256 + lo
	if v >= 32768 then v = v - 65536 end
	return v / 256
end

-- a whole-number option, at least `least` (2.5 lives or "x" steps are refused, not floored)
local function whole(raw, name, least)
	local n = tonumber(raw)
	if n == nil or n < least or n ~= math.floor(n) then
		error(name .. " must be a whole number, " .. least .. " or more, got " .. tostring(raw), 0)
	end
	return n
end

local function parse_setup(setup_str)
	local t = {}
	for k, v in string.gmatch(setup_str or "", "([%w_]+)%s*=%s*([^,;%s]+)") do t[k] = v end
	return t
end

local EnvProcessor = {}
EnvProcessor.new = function()
	local this = {}

	this.NAME = "EscapeFromPong"
	this.ROM = bizhawk.getenv_safe("EFP_ROM", "/usr/share/nes/efp.nes")
	this.HASH = "1DD014ECE0763D49710CA3F27D032AE227CD9D96" -- SHA-1 of efp.nes (1.6-3), the whole file
	this.ACTION = { "int 0 8" }
	this.OBSERVATION = "float"

	this.setup = function(self, env, setup_str)
		self.env = env
		local opts = parse_setup(setup_str)
		local config = env.config or {}
		self.lives_max = whole(config.lives or opts.lives or 3, "lives", 1)
		self.max_steps = whole(config.max_steps or opts.max_steps or 0, "max_steps", 0)
	end

	this._ptr = function(self)
		return mainmemory.read_u8(LEVEL_PTR_LO) + 256 * mainmemory.read_u8(LEVEL_PTR_HI)
	end

	-- the game runs (not booting, not in a level's start pause)
	this._live = function(self)
		local pause = mainmemory.read_u8(PAUSE)
		return self:_ptr() ~= 0 and (pause == 0 or pause == 2) and mainmemory.read_u8(BALL_X) ~= 255
	end

	this.reset = function(self)
		if self.start == nil then
			-- from power-on: run until level 1 is live, then keep that state for every episode
			local n = 0
			while not self:_live() do
				emu.frameadvance()
				n = n + 1
				if n > 1200 then error("EscapeFromPong: the game did not start within 1200 frames (wrong ROM?)") end
			end
			self.start = memorysavestate.savecorestate()
		else
			memorysavestate.loadcorestate(self.start)
		end
		self.lives = self.lives_max
		self.levels = 0
		self.deaths = 0
		self.steps = 0
	end

	-- one frame: press, advance, then see whether the level was left or restarted
	-- (comparing the RAM before and after this frame)
	this.step = function(self, action)
		local a = 0
		if action ~= nil then a = action[1] or 0 end
		local prev_ptr, prev_pause = self:_ptr(), mainmemory.read_u8(PAUSE)
		local prev_x, prev_y = mainmemory.read_u8(BALL_X), mainmemory.read_u8(BALL_Y)
		self.env:setKeys(DIRECTIONS[a] or {})
		emu.frameadvance()
		self.steps = self.steps + 1

		local ptr = self:_ptr()
		local x, y = mainmemory.read_u8(BALL_X), mainmemory.read_u8(BALL_Y)
		local pause = mainmemory.read_u8(PAUSE)
		-- a (re)start: the start pause begins, or the ball jumps back to its start position
		local restart = ((prev_pause == 0 or prev_pause == 2) and pause ~= 0 and pause ~= 2)
			or math.abs(x - prev_x) > 16 or math.abs(y - prev_y) > 16
		local reward = 0
		if restart then
			if ptr ~= prev_ptr then
				reward = 1 -- escaped: the next level's script
				self.levels = self.levels + 1
			else
				reward = -1 -- the same level again: the ball was lost
				self.deaths = self.deaths + 1
				self.lives = self.lives - 1
			end
		end

		local done = self.lives <= 0
		local truncated = (not done) and self.max_steps > 0 and self.steps >= self.max_steps
		return reward, done, truncated
	end

	this.getObservation = function(self)
		local m = mainmemory
		return {
			m.read_u8(BALL_X) + m.read_u8(BALL_X_FRAC) / 256,
			m.read_u8(BALL_Y) + m.read_u8(BALL_Y_FRAC) / 256,
			signed16(m.read_u8(BALL_VX_LO), m.read_u8(BALL_VX_HI)),
			signed16(m.read_u8(BALL_VY_LO), m.read_u8(BALL_VY_HI)),
			m.read_u8(PADDLE_X),
			m.read_u8(PADDLE_Y),
			m.read_u8(PADDLE_KIND),
			self.lives,
		}
	end

	this.getInfo = function(self)
		return { levels = self.levels, deaths = self.deaths, lives = self.lives, level_ptr = self:_ptr() }
	end

	this.backup = function(self)
		return { self.lives, self.levels, self.deaths, self.steps }
	end
	this.restore = function(self, d)
		self.lives, self.levels, self.deaths, self.steps = d[1], d[2], d[3], d[4]
	end

	return this
end

---- run (gym-bizhawk: the log name is free)
local env = bizhawk.GymEnv.new("_escape_from_pong.log")
env:run(EnvProcessor.new())
