-- Test game: an 8 x 8 RGB uint8 image observation sent as a byte string.
-- Pixel (y, x, c) = (y * 24 + x * 3 + c + t) mod 256 (y, x, c from 0); action Discrete(2):
-- t grows by action + 1; the episode terminates when t >= 10.
local vecbridge = require("vecbridge")

local unpack = table.unpack or unpack
local H, W = 8, 8
local game = {
	name = "image",
	observation_space = { type = "Box", low = 0, high = 255, shape = { H, W, 3 }, dtype = "uint8" },
	action_space = "bool",
	metadata = { render_modes = { "rgb_array" }, render_fps = 30 },
	t = 0,
}

local function frame(t)
	local bytes = {}
	for i = 0, H * W * 3 - 1 do bytes[i + 1] = (i + t) % 256 end
	return string.char(unpack(bytes))
end

function game:reset(seed, options)
	self.t = (options and options.t) or 0
	return frame(self.t), {}
end

function game:step(action)
	self.t = self.t + action + 1
	local corner = vecbridge.array("int16", { 2 }, { self.t, -self.t }) -- arrays may travel in info too
	return frame(self.t), action, self.t >= 10, false, { t = self.t, corner = corner }
end

function game:render()
	return vecbridge.array("uint8", { H, W, 3 }, frame(self.t))
end

-- a wrong-sized observation, to check the error the client raises
function game:short_frame()
	self.next_short = true
end

local step = game.step
function game:step(action)
	if self.next_short then
		self.next_short = false
		return string.rep("\0", 10), 0, false, false, {}
	end
	return step(self, action)
end

vecbridge.serve(game)
