--[[
emu.lua: one small emulator API over BizHawk (EmuHawk) and FCEUX, for vecbridge's
processor runtime (bizhawk.lua) and for processors that want to run on both.

Load it by path, not with require("emu"): FCEUX registers its own `emu` library as
package.loaded.emu, so require would return that instead of this file.

    local E = dofile(os.getenv("VECBRIDGE_LAUNCHERS") .. "/lua/emu.lua")
    E.frameadvance(); E.read_u8(0x13); E.read_bytes(0, 2048) -- a string
    E.set_buttons({ Right = true, A = true }, 1)               -- BizHawk names, any case
    E.screen_bytes(), E.screen_format()                         -- the screen in the emulator's own bytes

What it maps (E.name says which one it found):

| this API            | BizHawk                                   | FCEUX                                 |
|---------------------|-------------------------------------------|---------------------------------------|
| set_buttons(t, p)   | joypad.set({Right=true}, p)               | joypad.set(p, {right=true})           |
| speed_max()         | client.speedmode(6400), sound off         | emu.speedmode("maximum")              |
| read_u8(a)          | mainmemory.read_u8(a)                     | memory.readbyte(a)                    |
| read_bytes(a, n)    | mainmemory.read_bytes_as_array(a, n)      | memory.readbyterange(a, n)            |
| screen_bytes()      | client.screenshot: PNG bytes ("png")      | gui.gdscreenshot(true) past its header: ARGB ("xrgb") |
| send_screenshot()   | comm.socketServerScreenShot(): PNG frame  | -                                     |
| rom_hash(expected)  | gameinfo.getromhash()                     | rom.gethash("md5") or SHA-1 of the file|
| state_save/load     | memorysavestate (or savestate files)      | savestate.create/save/load            |

E.install_bizhawk_api() adds BizHawk's Lua names (memory domains, mainmemory, event,
bizstring, comm, client, gameinfo, joypad.set(table, player), savestate paths and slots,
console.log, ...) to FCEUX (bizhawk_api.lua), so that a processor written for BizHawk runs
under FCEUX unchanged. FCEUX's own functions keep working; drawing calls are no-ops.

This file parses under Lua 5.1 (FCEUX): no integer division or bitwise operators.
]]

local E = {}

local floor = math.floor
local string_byte, string_char, string_sub, table_concat = string.byte, string.char, string.sub, table.concat
local unpack = table.unpack or unpack -- luacheck: ignore 143

local function G(name) return rawget(_G, name) end

-- ------------------------------------------------------------------ detection

local function detect()
	local emu_, client, fceu = G("emu"), G("client"), G("FCEU")
	if type(client) == "table" and type(G("mainmemory")) == "table" and type(emu_) == "table" then
		return "bizhawk"
	end
	if type(emu_) == "table" and type(emu_.speedmode) == "function" and type(G("memory")) == "table"
		and type(G("memory").readbyterange) == "function" and (fceu ~= nil or type(G("rom")) == "table") then
		return "fceux"
	end
	return nil
end

E.name = detect()

function E.require_emulator(what)
	if E.name == nil then
		error((what or "vecbridge") .. ": no emulator Lua API found (expected BizHawk's client/mainmemory or " ..
			"FCEUX's emu/memory); run this script inside EmuHawk or FCEUX", 2)
	end
end

function E.log(msg)
	local io_ = G("io")
	if io_ and io_.stderr then
		io_.stderr:write(tostring(msg), "\n")
		io_.stderr:flush()
	else
		print(msg)
	end
end

-- ------------------------------------------------------------------ frames, speed, exit

function E.frameadvance() return G("emu").frameadvance() end
function E.framecount() return G("emu").framecount() end

function E.speed_max()
	if E.name == "fceux" then
		G("emu").speedmode("maximum")
	elseif E.name == "bizhawk" then
		local client = G("client")
		if client.speedmode then pcall(client.speedmode, 6400) end
		if client.SetSoundOn then pcall(client.SetSoundOn, false) end
		if client.unpause then pcall(client.unpause) end
	end
end

function E.system_id()
	if E.name == "bizhawk" and G("emu").getsystemid then return G("emu").getsystemid() end
	return "NES"
end

-- End the emulator process now (after a fatal error before the handshake): FCEUX
-- ignores emu.exit() before its first frame and keeps running after a script error.
function E.fatal_exit(code)
	code = code or 1
	if E.name == "bizhawk" then
		local client = G("client")
		if client.exitCode then pcall(client.exitCode, code) end
		if client.exit then pcall(client.exit) end
	end
	if os and os.exit then os.exit(code) end
end

-- ------------------------------------------------------------------ joypad

-- BizHawk (NES) names, by lower-cased button name without the "P1 " prefix
local BIZHAWK_NAMES = {
	up = "Up", down = "Down", left = "Left", right = "Right",
	a = "A", b = "B", start = "Start", select = "Select", power = "Power", reset = "Reset",
}
local FCEUX_NAMES = {
	up = "up", down = "down", left = "left", right = "right",
	a = "A", b = "B", start = "start", select = "select",
}
E.BUTTONS = { "Up", "Down", "Left", "Right", "Select", "Start", "B", "A" }

-- "P1 Right" / "Right" / "right" -> player, lower-cased name
local function split_button(key, player)
	local p, rest = string.match(key, "^[Pp](%d+)%s+(.+)$")
	if p then return tonumber(p), string.lower(rest) end
	return player, string.lower(key)
end
E.split_button = split_button

-- FCEUX: name -> {player or false, FCEUX name or false}, cached (this runs every frame)
local fceux_keys = {}
local function fceux_key(k, player)
	local cache = fceux_keys[player]
	if not cache then
		cache = {}
		fceux_keys[player] = cache
	end
	local e = cache[k]
	if not e then
		local p, name = split_button(k, player)
		e = { p, FCEUX_NAMES[name] or false }
		cache[k] = e
	end
	return e[1], e[2]
end

--- set_buttons(buttons, player): buttons maps names ("Right", "P1 A", "right") to true/false.
function E.set_buttons(buttons, player)
	player = player or 1
	if E.name == "fceux" then
		local set = E._fceux_joypad_set or G("joypad").set
		local one, one_p, more = nil, nil, nil
		for k, v in pairs(buttons) do
			local p, fname = fceux_key(k, player)
			if fname then
				if one_p == nil or p == one_p then
					one_p = p
					one = one or {}
					one[fname] = v and true or false
				else
					more = more or {}
					more[p] = more[p] or {}
					more[p][fname] = v and true or false
				end
			end
		end
		set(one_p or player, one or {})
		if more then for p, t in pairs(more) do set(p, t) end end
	else
		local t = {}
		for k, v in pairs(buttons) do
			local p, name = split_button(k, player)
			t["P" .. p .. " " .. (BIZHAWK_NAMES[name] or k)] = v and true or false
		end
		local set = E._bizhawk_joypad_set or G("joypad").set
		set(t)
	end
end

function E.clear_buttons(player)
	local t = {}
	for _, b in ipairs(E.BUTTONS) do t[b] = false end
	E.set_buttons(t, player or 1)
end

-- ------------------------------------------------------------------ memory

-- FCEUX's own memory functions, kept before install_bizhawk_api() gives memory.* BizHawk's meaning
local fceux_memory = E.name == "fceux" and { readbyte = G("memory").readbyte, readbyterange = G("memory").readbyterange }

function E.read_u8(addr)
	if E.name == "fceux" then return fceux_memory.readbyte(addr) end
	return G("mainmemory").read_u8(addr)
end

local CHUNK = 4096
local function list_to_string(t, first, n)
	local parts = {}
	for i = first, first + n - 1, CHUNK do
		parts[#parts + 1] = string_char(unpack(t, i, math.min(i + CHUNK - 1, first + n - 1)))
	end
	return table_concat(parts)
end
E.list_to_string = list_to_string

--- read_bytes(addr, n): n bytes of main memory as a string.
function E.read_bytes(addr, n)
	if E.name == "fceux" then return fceux_memory.readbyterange(addr, n) end
	local mm = G("mainmemory")
	if mm.read_bytes_as_array then return list_to_string(mm.read_bytes_as_array(addr, n), 1, n) end
	return list_to_string(mm.readbyterange(addr, n), 0, n) -- older BizHawk: zero-indexed
end

function E.ram_size()
	if E.name == "bizhawk" then
		local mm = G("mainmemory")
		if mm.getsize then return mm.getsize() end
	end
	return 2048 -- NES work RAM
end

-- ------------------------------------------------------------------ savestates

function E.state_create()
	if E.name == "fceux" then
		local s = G("savestate").create()
		G("savestate").save(s)
		return s
	end
	local ms = G("memorysavestate")
	if type(ms) == "table" and ms.savecorestate then return { id = ms.savecorestate() } end
	local dir = os.getenv("VECBRIDGE_WORKDIR") or "."
	E._state_n = (E._state_n or 0) + 1
	local path = dir .. "/vecbridge_state_" .. E._state_n .. ".State"
	G("savestate").save(path)
	return { path = path }
end

function E.state_load(s)
	if E.name == "fceux" then return G("savestate").load(s) end
	if s.id then return G("memorysavestate").loadcorestate(s.id) end
	return G("savestate").load(s.path)
end

-- ------------------------------------------------------------------ hashes

-- 32-bit operations: LuaBitOp (FCEUX, LuaJIT), bit32 (Lua 5.2), or native operators (5.3+)
local function bitlib()
	local b = G("bit")
	if type(b) == "table" and b.band and b.rol then return b end
	if type(G("bit32")) == "table" then
		local b32 = G("bit32")
		return { band = b32.band, bor = b32.bor, bxor = b32.bxor, bnot = b32.bnot, lshift = b32.lshift,
			rshift = b32.rshift, rol = b32.lrotate }
	end
	local ok, lib = pcall(require, "bit")
	if ok and type(lib) == "table" and lib.rol then return lib end
	local chunk = (loadstring or load)([[
		local M = 0xFFFFFFFF
		return {
			band = function(a, b) return (a & b) & M end,
			bor = function(a, b) return (a | b) & M end,
			bxor = function(a, b) return (a ~ b) & M end,
			bnot = function(a) return (~a) & M end,
			lshift = function(a, n) return (a << n) & M end,
			rshift = function(a, n) return (a & M) >> n end,
			rol = function(a, n) a = a & M; return ((a << n) | (a >> (32 - n))) & M end,
		}]])
	if chunk then return chunk() end
	error("vecbridge: no bit library for SHA-1 (needs LuaBitOp, bit32 or Lua 5.3+)")
end

--- sha1(s): hex digest (lower case) of a string.
function E.sha1(s)
	local bit = bitlib()
	local band, bor, bxor, bnot, rol = bit.band, bit.bor, bit.bxor, bit.bnot, bit.rol
	local TWO32 = 4294967296
	local function add(...)
		local sum = 0
		for i = 1, select("#", ...) do sum = sum + (select(i, ...) % TWO32) end
		return sum % TWO32
	end
	local len = #s
	local bits = len * 8
	local tail = "\128" .. string.rep("\0", (55 - len) % 64)
	local lenbytes = {}
	for i = 8, 1, -1 do
		lenbytes[i] = string_char(bits % 256)
		bits = floor(bits / 256)
	end
	s = s .. tail .. table_concat(lenbytes)
	local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
	local w = {}
	for chunk = 1, #s, 64 do
		for i = 0, 15 do
			local a, b, c, d = string_byte(s, chunk + i * 4, chunk + i * 4 + 3)
			w[i] = ((a * 256 + b) * 256 + c) * 256 + d
		end
		for i = 16, 79 do
			w[i] = rol(bxor(bxor(w[i - 3], w[i - 8]), bxor(w[i - 14], w[i - 16])), 1) % TWO32
		end
		local a, b, c, d, e = h0, h1, h2, h3, h4
		for i = 0, 79 do
			local f, k
			if i < 20 then
				f, k = bor(band(b, c), band(bnot(b), d)), 0x5A827999
			elseif i < 40 then
				f, k = bxor(bxor(b, c), d), 0x6ED9EBA1
			elseif i < 60 then
				f, k = bor(bor(band(b, c), band(b, d)), band(c, d)), 0x8F1BBCDC
			else
				f, k = bxor(bxor(b, c), d), 0xCA62C1D6
			end
			local temp = add(rol(a, 5), f, e, k, w[i])
			e, d, c, b, a = d, c, rol(b, 30) % TWO32, a, temp
		end
		h0, h1, h2, h3, h4 = add(h0, a), add(h1, b), add(h2, c), add(h3, d), add(h4, e)
	end
	return string.format("%08x%08x%08x%08x%08x", h0, h1, h2, h3, h4)
end

local function read_file(path)
	local f = io.open(path, "rb")
	if not f then return nil end
	local data = f:read("*a")
	f:close()
	return data
end

-- the hash text without a "SHA1:"/"MD5:" prefix, lower case
function E.normalize_hash(h)
	h = string.lower(tostring(h or ""))
	h = string.gsub(h, "^%s*", "")
	h = string.gsub(h, "%s*$", "")
	h = string.gsub(h, "^sha1:", "")
	h = string.gsub(h, "^md5:", "")
	return h
end

--- rom_hash(expected, rom_path): the loaded ROM's hash of the same kind as `expected`,
-- and a description of how it was computed.
--   BizHawk: gameinfo.getromhash() (what gym-bizhawk compares HASH with).
--   FCEUX, 32 hex digits: rom.gethash("md5"), FCEUX's MD5 of the ROM data (iNES header excluded).
--   FCEUX, 40 hex digits: SHA-1 of the ROM file (rom_path, else the iNES header + PRG + CHR as
--   FCEUX holds them), computed here in pure Lua: what BizHawk's gameinfo.getromhash() reports
--   for a ROM missing from its game database.
function E.rom_hash(expected, rom_path)
	local want = E.normalize_hash(expected)
	if E.name == "bizhawk" then
		return E.normalize_hash(G("gameinfo").getromhash()), "BizHawk gameinfo.getromhash()"
	end
	if E.name == "fceux" then
		if #want == 32 then
			return E.normalize_hash(G("rom").gethash("md5")), 'FCEUX rom.gethash("md5") (MD5 of the ROM data without the iNES header)'
		end
		local data = rom_path and read_file(rom_path)
		local how = "SHA-1 of " .. tostring(rom_path)
		if not data then
			local r = G("rom")
			local prg, chr = r.readbyte(4), r.readbyte(5)
			data = r.readbyterange(0, 16 + prg * 16384 + chr * 8192)
			how = "SHA-1 of the iNES image as FCEUX loaded it (header + PRG + CHR)"
		end
		return E.sha1(data), how
	end
	error("rom_hash: no emulator")
end

-- ------------------------------------------------------------------ screen

function E.screen_size()
	if E.name == "bizhawk" then
		local client = G("client")
		return client.bufferheight(), client.bufferwidth()
	end
	return 240, 256
end

-- The screen travels in the emulator's own bytes; vecbridge converts them to RGB on the host
-- (docs/protocol.md, "Pixel formats"). Converting in Lua cost 6 ms a frame (FCEUX, string.gsub)
-- and 33 ms (BizHawk, a pure-Lua PNG decoder, plus 10 ms of base64).

--- screen_format(): the pixel format of E.screen_bytes(): "xrgb" (FCEUX), "png" (BizHawk).
function E.screen_format()
	return E.name == "fceux" and "xrgb" or "png"
end

-- the gd2 truecolor header of gui.gdscreenshot: signature, width, height, truecolor flag, transparent colour
local GD_HEADER = 11

--- screen_bytes(): the current screen in E.screen_format(): a string, the screen's height and
-- width, and the index of its first pixel byte in the string (so that no copy is needed).
--   FCEUX: gui.gdscreenshot(true), whose pixels start past the gd2 header, 4 bytes a pixel (A, R, G, B);
--   BizHawk: client.screenshot's PNG file, its bytes as they are.
function E.screen_bytes()
	if E.name == "fceux" then
		-- true: the emulator's own picture, without FCEUX's on-screen messages or Lua drawings
		local gd = G("gui").gdscreenshot(true)
		local w = string_byte(gd, 3) * 256 + string_byte(gd, 4)
		local h = string_byte(gd, 5) * 256 + string_byte(gd, 6)
		return gd, h, w, GD_HEADER + 1
	end
	local dir = os.getenv("VECBRIDGE_WORKDIR")
	local path = (dir and dir ~= "") and (dir .. "/vecbridge_screen.png") or os.tmpname()
	G("client").screenshot(path)
	local data = read_file(path)
	os.remove(path)
	if not data then error("screenshot: client.screenshot did not write " .. path) end
	local h, w = E.screen_size()
	return data, h, w, 1
end

--- send_screenshot(): BizHawk only: EmuHawk sends the screen as a PNG frame on its comm socket
-- (comm.socketServerScreenShot: "<length> <PNG bytes>", no base64).
function E.send_screenshot()
	local result = G("comm").socketServerScreenShot()
	if result == "Screenshot could not be sent" then error("comm.socketServerScreenShot: " .. result) end
	return result
end

-- ------------------------------------------------------------------ BizHawk names under FCEUX

--- Adds BizHawk's Lua API names to FCEUX (only what is missing; FCEUX's own calls keep working):
-- launchers/lua/bizhawk_api.lua, listed in docs/backends/bizhawk-api.md.
function E.install_bizhawk_api()
	if E.name ~= "fceux" or E._installed then return end
	E._installed = true
	local dir = string.match(debug.getinfo(1, "S").source or "", "^@(.*[/\\])") or ""
	local api = assert(loadfile(dir .. "bizhawk_api.lua"))()
	api.install(E)
end

return E
