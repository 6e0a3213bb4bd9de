-- Test game: an H x W image observation sent in a pixel format (game option `format`), so that
-- vecbridge converts it to RGB. Pixel (y, x) at step t (y, x from 0) is RGB
--   ((y * 7 + x * 3 + t) % 256, (y * 5 + x * 11 + 2 * t) % 256, (x * y + t) % 256)
-- and the fourth byte of the 4-byte formats is (x + y) % 256 (vecbridge must ignore it).
-- option `view`: the bytes travel as a vecbridge.view into a longer string.
-- format "palette": index (y + x + t) % 8 into the palette {i * 30, 255 - i * 30, i * 7}.
-- format "png": the bytes of the file at option `png` (a raw frame when option `raw` is set:
-- through comm.socketServerScreenShot under the BizHawk stand-in, else the bytes themselves).
-- Action Discrete(2): t grows by action + 1; terminated when t >= 10. render: the same image.
local vecbridge = require("vecbridge")

local config = vecbridge.config()
local H, W = config.h or 3, config.w or 5
local format = config.format or "rgbx"
local unpack = table.unpack or unpack

local palette = {}
for i = 0, 7 do palette[i + 1] = { i * 30, 255 - i * 30, i * 7 } end

local png
if format == "png" then
	local f = assert(io.open(config.png, "rb"))
	png = f:read("*a")
	f:close()
	local standin = package.loaded["bizhawk_standin"]
	if standin then standin.screenshot_png = function() return png end end
end

local function wire(t)
	if format == "png" then
		if not config.raw then return png end
		if vecbridge.connection.name == "comm" then return vecbridge.raw_frame(comm.socketServerScreenShot) end
		return vecbridge.raw_frame(png)
	end
	local b, n = {}, 0
	for y = 0, H - 1 do
		for x = 0, W - 1 do
			local r, g, bl = (y * 7 + x * 3 + t) % 256, (y * 5 + x * 11 + 2 * t) % 256, (x * y + t) % 256
			local px
			if format == "rgb" then px = { r, g, bl }
			elseif format == "rgbx" then px = { r, g, bl, (x + y) % 256 }
			elseif format == "bgrx" then px = { bl, g, r, (x + y) % 256 }
			elseif format == "xrgb" then px = { (x + y) % 256, r, g, bl }
			else px = { (y + x + t) % 8 } end
			for i = 1, #px do n = n + 1; b[n] = px[i] end
		end
	end
	local parts = {}
	for i = 1, n, 1000 do parts[#parts + 1] = string.char(unpack(b, i, math.min(i + 999, n))) end
	if config.view then return vecbridge.view("gd2!" .. table.concat(parts) .. "tail", 5, 4 + n) end -- option view: no copy
	return table.concat(parts)
end

local game = {
	name = "pixels",
	observation_space = { type = "Box", low = 0, high = 255, shape = { H, W, 3 }, dtype = "uint8", pixel_format = format,
		palette = format == "palette" and palette or nil },
	action_space = "bool",
	t = 0,
}

function game:reset(seed, options)
	self.t = 0
	return wire(self.t), {}
end

function game:step(action)
	self.t = self.t + action + 1
	return wire(self.t), 1, self.t >= 10, false, { t = self.t }
end

function game:render()
	if format == "palette" then return nil end
	return vecbridge.image(format, H, W, wire(self.t))
end

vecbridge.serve(game)
