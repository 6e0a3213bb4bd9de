--[[
fake_bizhawk_emu.lua: a stand-in for EmuHawk's emulator Lua API (not its comm socket:
that is launchers/lua/bizhawk_standin.lua), good enough to run gym-bizhawk processors
under plain lua5.4:

    lua5.4 -l bizhawk_standin -l fake_bizhawk_emu launchers/lua/processor.lua

Globals, with BizHawk's names and argument orders: emu (frameadvance, framecount,
getsystemid), joypad (set(table[, controller]), get), mainmemory / memory (read_u8,
readbyte, read_s8, read_u16_le, read_bytes_as_array (1-based), readbyterange
(0-based), write_u8, getsize), client (speedmode, pause, unpause, SetSoundOn, exit,
exitCode, screenshot(path) -> a PNG, bufferwidth/bufferheight, getversion,
reboot_core, openrom), gameinfo (getromname, getromhash), savestate (save/load path,
saveslot/loadslot), memorysavestate (savecorestate/loadcorestate/removestate),
console.log, gui drawing (no-ops).

The "console" behind it is a tiny deterministic game in 2 KiB of RAM, so that
processors have something to read:
  $10 player x (0..255): the controller's Right/Left move it by 2 per frame
  $11 target x; when |player - target| < 4 the score ($13) goes up and the target
      moves (target = (target * 37 + 91) % 240 + 8)
  $12 frame counter (low byte), $14 frame counter (high byte)
  $15 game over flag: set after 600 frames (until a reboot_core or a state load)
  $16 buttons of the last frame (bit 0 Right, 1 Left, 2 Up, 3 Down, 4 A, 5 B)
The screen is 32 x 24 RGB: black, the player a white column, the target a red one.

Environment: FAKE_ROM (path; gameinfo.getromname/getromhash, "Null" without),
FAKE_ROM_HASH (overrides the hash; default: SHA-1 of the file, upper case, as BizHawk).
]]

local M = {}

local W, H = 32, 24
local ram = {}
local frame = 0
local pending = {} -- buttons set for the next frame
local last = {}    -- buttons of the last frame
local rom_path = os.getenv("FAKE_ROM")
if rom_path == "" then rom_path = nil end

local function power_on()
	for i = 0, 2047 do ram[i] = 0 end
	ram[0x10], ram[0x11] = 120, 40
	frame = 0
end
power_on()

local function log(...)
	local parts = {}
	for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
	io.stderr:write(table.concat(parts, "\t"), "\n")
	io.stderr:flush()
end

-- ------------------------------------------------------------------ the "console"

local function pressed(name) return pending["P1 " .. name] == true end

local function run_frame()
	local bits = 0
	if pressed("Right") then bits = bits | 1 end
	if pressed("Left") then bits = bits | 2 end
	if pressed("Up") then bits = bits | 4 end
	if pressed("Down") then bits = bits | 8 end
	if pressed("A") then bits = bits | 16 end
	if pressed("B") then bits = bits | 32 end
	ram[0x16] = bits
	if ram[0x15] == 0 then
		local x = ram[0x10]
		if bits & 1 ~= 0 then x = math.min(255, x + 2) end
		if bits & 2 ~= 0 then x = math.max(0, x - 2) end
		ram[0x10] = x
		if math.abs(x - ram[0x11]) < 4 then
			ram[0x13] = (ram[0x13] + 1) % 256
			ram[0x11] = (ram[0x11] * 37 + 91) % 240 + 8
		end
	end
	frame = frame + 1
	ram[0x12], ram[0x14] = frame % 256, (frame // 256) % 256
	if frame >= 600 then ram[0x15] = 1 end
	last, pending = pending, {}
end

-- ------------------------------------------------------------------ emu / joypad

emu = {}
function emu.frameadvance() run_frame() end
function emu.framecount() return frame end
function emu.getsystemid() return "NES" end
function emu.yield() end

joypad = {}
local BUTTONS = { "Up", "Down", "Left", "Right", "Select", "Start", "B", "A" }
function joypad.set(t, controller)
	for k, v in pairs(t) do
		local key = k
		if controller ~= nil then key = "P" .. controller .. " " .. k end
		pending[key] = v and true or nil
	end
end
function joypad.get(controller)
	local t = {}
	for _, b in ipairs(BUTTONS) do
		if controller ~= nil then t[b] = last["P" .. controller .. " " .. b] == true
		else t["P1 " .. b] = last["P1 " .. b] == true end
	end
	if controller == nil then t["Power"], t["Reset"] = false, false end
	return t
end

-- ------------------------------------------------------------------ memory

local function check(addr)
	if type(addr) ~= "number" or addr < 0 or addr > 2047 then error("fake emu: address out of range: " .. tostring(addr), 3) end
	return math.tointeger(addr) or addr
end

local mem = {}
function mem.read_u8(a) return ram[check(a)] end
mem.readbyte = mem.read_u8
function mem.read_s8(a) local v = ram[check(a)]; return v >= 128 and v - 256 or v end
function mem.read_u16_le(a) return ram[check(a)] + 256 * ram[check(a + 1)] end
function mem.read_bytes_as_array(a, n)
	local t = {}
	for i = 1, n do t[i] = ram[check(a + i - 1)] end
	return t
end
function mem.readbyterange(a, n)
	local t = {}
	for i = 0, n - 1 do t[i] = ram[check(a + i)] end
	return t
end
function mem.write_u8(a, v) ram[check(a)] = v % 256 end
mem.writebyte = mem.write_u8
function mem.getsize() return 2048 end
function mem.getname() return "RAM" end
mainmemory = mem
memory = setmetatable({ usememorydomain = function() return true end, getcurrentmemorydomain = function() return "RAM" end },
	{ __index = mem })

-- ------------------------------------------------------------------ savestates

local function snapshot()
	local r = {}
	for i = 0, 2047 do r[i] = ram[i] end
	return { ram = r, frame = frame }
end
local function restore(s)
	for i = 0, 2047 do ram[i] = s.ram[i] end
	frame = s.frame
	pending, last = {}, {}
end

local states = {}
savestate = {}
function savestate.save(path) states["path:" .. tostring(path)] = snapshot() end
function savestate.load(path)
	local s = states["path:" .. tostring(path)]
	if not s then error("fake emu: no savestate " .. tostring(path), 2) end
	restore(s)
end
function savestate.saveslot(n) states["slot:" .. n] = snapshot() end
function savestate.loadslot(n)
	local s = states["slot:" .. n]
	if not s then error("fake emu: slot " .. tostring(n) .. " is empty", 2) end
	restore(s)
end

memorysavestate = {}
local next_id = 0
function memorysavestate.savecorestate()
	next_id = next_id + 1
	local id = string.format("%08x-fake", next_id)
	states["mem:" .. id] = snapshot()
	return id
end
function memorysavestate.loadcorestate(id)
	local s = states["mem:" .. tostring(id)]
	if not s then error("fake emu: no core state " .. tostring(id), 2) end
	restore(s)
end
function memorysavestate.removestate(id) states["mem:" .. tostring(id)] = nil end
function memorysavestate.clearstatesfrommemory()
	for k in pairs(states) do if k:sub(1, 4) == "mem:" then states[k] = nil end end
end

-- ------------------------------------------------------------------ the screen as a PNG

local CRC = {}
for i = 0, 255 do
	local c = i
	for _ = 1, 8 do
		if c & 1 ~= 0 then c = 0xEDB88320 ~ (c >> 1) else c = c >> 1 end
	end
	CRC[i] = c
end
local function crc32(s)
	local c = 0xFFFFFFFF
	for i = 1, #s do c = CRC[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
	return c ~ 0xFFFFFFFF
end
local function adler32(s)
	local a, b = 1, 0
	for i = 1, #s do
		a = (a + s:byte(i)) % 65521
		b = (b + a) % 65521
	end
	return (b << 16) | a
end
local function chunk(typ, data)
	return string.pack(">I4", #data) .. typ .. data .. string.pack(">I4", crc32(typ .. data))
end

function M.screen_rgb()
	local rows = {}
	local px = ram[0x10] * W // 256
	local tx = ram[0x11] * W // 256
	for y = 0, H - 1 do
		local row = {}
		for x = 0, W - 1 do
			if x == px then row[#row + 1] = "\255\255\255"
			elseif x == tx then row[#row + 1] = "\200\30\30"
			else row[#row + 1] = string.char(0, 0, (y * 8) % 256) end
		end
		rows[y + 1] = table.concat(row)
	end
	return rows
end

local function png(rows)
	local raw = {}
	for y = 1, #rows do raw[y] = "\0" .. rows[y] end
	raw = table.concat(raw)
	-- zlib: header, one stored block per 65535 bytes, Adler-32
	local z = { "\120\1" }
	local pos = 1
	repeat
		local piece = raw:sub(pos, pos + 65534)
		pos = pos + #piece
		local final = pos > #raw and 1 or 0
		z[#z + 1] = string.char(final) .. string.pack("<I2<I2", #piece, (~#piece) & 0xFFFF) .. piece
	until pos > #raw
	z[#z + 1] = string.pack(">I4", adler32(raw))
	return "\137PNG\r\n\26\n" .. chunk("IHDR", string.pack(">I4>I4BBBBB", W, H, 8, 2, 0, 0, 0)) ..
		chunk("IDAT", table.concat(z)) .. chunk("IEND", "")
end

-- ------------------------------------------------------------------ client / gameinfo / misc

local function sha1_file(path)
	local f = io.open(path, "rb")
	if not f then return nil end
	local data = f:read("a")
	f:close()
	local E = dofile((os.getenv("VECBRIDGE_LAUNCHERS") or ".") .. "/lua/emu.lua")
	return string.upper(E.sha1(data))
end

client = {}
function client.speedmode(_) end
function client.pause() end
function client.unpause() end
function client.togglepause() end
function client.SetSoundOn(_) end
function client.GetSoundOn() return false end
function client.invisibleemulation(_) end
function client.getversion() return "2.9.1 (fake)" end
function client.bufferwidth() return W end
function client.bufferheight() return H end
function client.screenwidth() return W end
function client.screenheight() return H end
function client.reboot_core() power_on() end
function client.openrom(path)
	rom_path = path
	power_on()
	return true
end
function client.screenshot(path)
	local f = assert(io.open(path, "wb"))
	f:write(png(M.screen_rgb()))
	f:close()
end
function client.exit() os.exit(0) end
function client.exitCode(code) os.exit(code) end

gameinfo = {}
function gameinfo.getromname()
	if not rom_path then return "Null" end
	return (rom_path:match("([^/\\]+)$") or rom_path):gsub("%.%w+$", "")
end
function gameinfo.getromhash()
	local h = os.getenv("FAKE_ROM_HASH")
	if h and h ~= "" then return h end
	if not rom_path then return "" end
	return sha1_file(rom_path) or ""
end

console = { log = log, writeline = log, write = log, clear = function() end }

gui = setmetatable({}, { __index = function() return function() end end })

bit = {
	band = function(a, b) return a & b end, bor = function(a, b) return a | b end,
	bxor = function(a, b) return a ~ b end, lshift = function(a, n) return a << n end,
	rshift = function(a, n) return a >> n end,
}

M.ram = ram
return M
