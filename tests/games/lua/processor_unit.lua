-- Unit checks of launchers/lua/emu.lua and bizhawk.lua's helpers, under plain Lua with
-- the fake BizHawk emulator (fake_bizhawk_emu.lua, loaded with -l). Prints "ok".
--   lua5.4 -l fake_bizhawk_emu processor_unit.lua             -- the checks
local launchers = assert(os.getenv("VECBRIDGE_LAUNCHERS"), "set VECBRIDGE_LAUNCHERS")
local E = dofile(launchers .. "/lua/emu.lua")

local function eq(a, b, what)
	if a ~= b then error(string.format("%s: expected %s, got %s", what, tostring(b), tostring(a)), 2) end
end

eq(E.name, "bizhawk", "emulator detected")

-- buttons: BizHawk names with and without "P1 ", any case
E.set_buttons({ Right = true, ["P1 A"] = true, left = false }, 1)
emu.frameadvance()
eq(mainmemory.read_u8(0x16), 1 + 16, "buttons of the frame (Right, A)")
E.clear_buttons(1)
emu.frameadvance()
eq(mainmemory.read_u8(0x16), 0, "cleared buttons")

-- memory
mainmemory.write_u8(0x20, 7)
mainmemory.write_u8(0x21, 250)
eq(E.read_u8(0x20), 7, "read_u8")
eq(E.read_bytes(0x20, 3), "\7\250\0", "read_bytes")
eq(E.ram_size(), 2048, "ram size")

-- savestates
local s = E.state_create()
mainmemory.write_u8(0x20, 9)
E.state_load(s)
eq(E.read_u8(0x20), 7, "state restored")

-- hashes
eq(E.sha1(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1('')")
eq(E.sha1("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1('abc')")
eq(E.sha1(string.rep("x", 200)), "94218caae9904e93a3d7bf578bf4791926fc5e82", "sha1 of 200 bytes (4 blocks)")
eq(E.normalize_hash(" SHA1:ABCDEF "), "abcdef", "normalize_hash")

-- the screen: client.screenshot's PNG file, its bytes as they are (vecbridge decodes them on the host)
local png, h, w = E.screen_bytes()
eq(E.screen_format(), "png", "screen format")
eq(string.sub(png, 1, 8), "\137PNG\r\n\26\n", "PNG signature")
eq(h, 24, "screen height")
eq(w, 32, "screen width")

-- gym-bizhawk's helpers and env
local bizhawk = require("bizhawk")
local parts = bizhawk.split("a b  c", " ")
eq(#parts, 3, "split")
eq(parts[3], "c", "split")
eq(bizhawk.startswith("step 1 0", "step"), true, "startswith")
eq(bizhawk.eval("return 1 + 2"), 3, "eval")
eq(bizhawk.getenv_safe("VECBRIDGE_SURELY_UNSET_VAR", "dflt"), "dflt", "getenv_safe")
local env = bizhawk.GymEnv.new("_unit.log")
env:setKeys({ "P1 Left", "" })
emu.frameadvance()
eq(mainmemory.read_u8(0x16), 2, "env:setKeys")
env:setKey("P1 B")
env:frameadvance(2)
eq(mainmemory.read_u8(0x16), 0, "env:setKey lasts one frame")
local keys = env:getKeys()
eq(keys["P1 Start"], false, "getKeys")

print("ok")
