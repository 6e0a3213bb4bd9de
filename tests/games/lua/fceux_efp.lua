-- Test game for FCEUX (its Lua 5.1 + LuaSocket): Escape from Pong (/usr/share/nes/efp.nes).
-- Observation: the first 64 bytes of NES RAM (a uint8 string from memory.readbyterange);
-- action: Discrete(4) = nothing, A, left, right; each step advances `frameskip` frames.
-- reset() loads a savestate taken at the first reset.
local vecbridge = require("vecbridge")
local config = vecbridge.config()
local BUTTONS = { {}, { A = true }, { left = true }, { right = true } }

emu.speedmode("maximum")

local game = {
	name = "efp",
	observation_space = { type = "Box", low = 0, high = 255, shape = { 64 }, dtype = "uint8" },
	action_space = { type = "Discrete", n = 4 },
	frameskip = config.frameskip or 4,
}

-- reset: back to a savestate taken at the first reset (deterministic, unlike a power cycle)
function game:reset(seed, options)
	if not self.start then
		emu.frameadvance()
		self.start = savestate.create()
		savestate.save(self.start)
	else
		savestate.load(self.start)
	end
	return memory.readbyterange(0, 64), { frame = emu.framecount() }
end

function game:step(action)
	for _ = 1, self.frameskip do
		joypad.set(1, BUTTONS[action + 1])
		emu.frameadvance()
	end
	return memory.readbyterange(0, 64), 0, false, false, { frame = emu.framecount() }
end

function game:framecount() return emu.framecount() end
-- an error after the emulator advanced a frame (inside the coroutine that runs requests on Lua 5.1)
function game:advance_then_fail()
	emu.frameadvance()
	error("failed after a frame")
end
function game:lua_version() return _VERSION end

vecbridge.serve(game)
