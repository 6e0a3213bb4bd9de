-- A small deterministic test game for vecbridge's Lua client (tests/test_client_lua.py).
--
-- Observation: float32[4] = {pos, target, t, noise}; action: Discrete(3) (0 left, 1 stay, 2 right).
-- The episode terminates when pos reaches target, truncates after max_steps steps.
-- Randomness: MINSTD (rng = rng * 48271 mod 2^31-1), seeded by reset(seed): rng = seed mod (2^31-2) + 1.
local vecbridge = require("vecbridge")

local MOD = 2147483647
local config = vecbridge.config()

local game = {
	name = "counter",
	observation_space = "float[4]",
	action_space = "int 0 2",
	max_steps = config.max_steps or 20,
	rng = 1,
	pos = 0,
	target = 0,
	t = 0,
	noise = 0,
	episodes = 0,
	fail_next_step = false,
	label = "counter game",
}

local function rand(self)
	self.rng = (self.rng * 48271) % MOD
	return self.rng
end

local function observe(self)
	return { self.pos, self.target, self.t, self.noise }
end

function game:reset(seed, options)
	if seed ~= nil then self.rng = seed % (MOD - 1) + 1 end
	self.episodes = self.episodes + 1
	self.pos = options and options.start or 0
	self.t = 0
	self.target = rand(self) % 5 + 1
	self.noise = (rand(self) % 1000) / 1000
	return observe(self), { episode = self.episodes, seeded = seed ~= nil }
end

function game:step(action)
	if self.fail_next_step then
		self.fail_next_step = false
		error("boom: step failed on purpose")
	end
	self.pos = self.pos + (action - 1)
	self.t = self.t + 1
	self.noise = (rand(self) % 1000) / 1000
	local terminated = self.pos == self.target
	local truncated = not terminated and self.t >= self.max_steps
	local reward = terminated and 1.0 or -0.1
	local info = { distance = math.abs(self.target - self.pos), t = self.t, label = "step " .. self.t }
	return observe(self), reward, terminated, truncated, info
end

-- a 2 x 4 RGB frame: pixel (y, x, c) = (pos * 10 + y * 4 + x + c * 50) mod 256, y and x from 0
function game:render()
	local pixels = {}
	for y = 0, 1 do
		for x = 0, 3 do
			for c = 0, 2 do pixels[#pixels + 1] = (self.pos * 10 + y * 4 + x + c * 50) % 256 end
		end
	end
	return vecbridge.array("uint8", { 2, 4, 3 }, pixels)
end

-- methods reachable through call()
function game:add(a, b) return a + b end
function game:state() return { pos = self.pos, target = self.target, t = self.t } end
function game:fail(message) error(message or "failed on purpose") end
function game:echo(value) return value end
function game:pair() return 1, "two" end
function game:greet(name, kwargs)
	return "hello " .. name .. (kwargs and kwargs.punctuation or "")
end
function game:welcome_info() return { instance = vecbridge.welcome.instance, config = vecbridge.welcome.config } end
function game:env_config() return vecbridge.config() end
function game:lua_version() return _VERSION .. (rawget(_G, "jit") and (" " .. jit.version) or "") end
function game:transport() return vecbridge.connection.name .. "/" .. vecbridge.connection.framing end
-- values: a flat list (from JSON or from an array); sends them back as an array of `dtype`
function game:roundtrip(dtype, values, shape) return vecbridge.array(dtype, shape or #values, values) end
function game:bad_observation() return vecbridge.check("float[4]", { 1, 2, 3 }, "observation") end
function game:base64(text) return vecbridge.base64_encode(text) end

vecbridge.serve(game)
