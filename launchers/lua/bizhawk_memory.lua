--[[
bizhawk_memory.lua: BizHawk's memory domains (`memory.*`, `mainmemory.*`) over FCEUX's Lua API,
so that a processor written for BizHawk's NES cores reads and writes the same bytes under FCEUX.
Installed by bizhawk_api.lua (emu.lua's E.install_bizhawk_api()); docs/backends/bizhawk-api.md
lists what is native, emulated and not possible.

Domains (names and sizes as BizHawk's NesHawk names them):
  "RAM"                 0x800    memory.readbyte/writebyte            read/write
  "System Bus"          0x10000  memory.readbyte/writebyte            read/write (BizHawk's default for memory.*)
  "PPU Bus"             0x4000   ppu.readbyte                         read only (FCEUX has no PPU write)
  "CIRAM (nametables)"  0x800    ppu.readbyte at $2000.. by the iNES header's mirroring   read only
  "PALRAM"              0x20     ppu.readbyte($3F00 + a)              read only
  "PRG ROM", "CHR VROM" sizes from the iNES header: rom.readbyte/writebyte (the .nes file image)
  "Battery RAM"         0x2000   the bus at $6000 (only when the header says battery-backed)
Not possible: "OAM" (FCEUX's Lua cannot read sprite memory).

As in BizHawk, a read outside a domain logs a warning and returns 0, a write there or to a
read-only domain logs and does nothing, and an unknown domain name logs and falls back to the
current domain. mainmemory.* is "RAM". FCEUX's own memory.* functions keep working: with no
domain argument and no usememorydomain() call, memory.readbyte/writebyte/readbyterange are
FCEUX's (the System Bus; readbyterange returns a string); a domain argument or a selected domain
gives BizHawk's meaning (readbyterange: a zero-indexed table).
]]

local M = {}

local floor, string_byte, string_char = math.floor, string.byte, string.char

local function G(name) return rawget(_G, name) end

function M.install(E)
	local memory, ppu, rom = G("memory"), G("ppu"), G("rom")
	local fceux_read, fceux_write, fceux_range = memory.readbyte, memory.writebyte, memory.readbyterange
	local vecbridge = require("vecbridge")

	local warnings = 0
	local function warn(msg)
		warnings = warnings + 1
		if warnings <= 20 then E.log(msg) elseif warnings == 21 then E.log("(further memory warnings are not shown)") end
	end

	-- ---------------------------------------------------------------- the domains
	local header = { rom.readbyte(4), rom.readbyte(5), rom.readbyte(6) }
	local prg_size, chr_size = header[1] * 16384, header[2] * 8192
	local flags6 = header[3]
	local trainer = (floor(flags6 / 4) % 2 == 1) and 512 or 0
	local vertical = flags6 % 2 == 1 or floor(flags6 / 8) % 2 == 1

	local domains, order = {}, {}
	local function add(name, size, read, write, range)
		domains[name] = { name = name, size = size, read = read, write = write, range = range }
		order[#order + 1] = name
	end
	add("RAM", 0x800, fceux_read, fceux_write, fceux_range)
	add("System Bus", 0x10000, fceux_read, fceux_write, fceux_range)
	if type(ppu) == "table" and ppu.readbyte then
		add("PPU Bus", 0x4000, ppu.readbyte, nil, ppu.readbyterange)
		add("CIRAM (nametables)", 0x800, function(a)
			local page, off = floor(a / 0x400), a % 0x400
			return ppu.readbyte(0x2000 + (vertical and page * 0x400 or page * 0x800) + off)
		end)
		add("PALRAM", 0x20, function(a) return ppu.readbyte(0x3F00 + a) end)
	end
	if floor(flags6 / 2) % 2 == 1 then
		add("Battery RAM", 0x2000, function(a) return fceux_read(0x6000 + a) end,
			function(a, v) fceux_write(0x6000 + a, v) end)
	end
	local prg0, chr0 = 16 + trainer, 16 + trainer + prg_size
	add("PRG ROM", prg_size, function(a) return rom.readbyte(prg0 + a) end,
		rom.writebyte and function(a, v) rom.writebyte(prg0 + a, v) end)
	if chr_size > 0 then
		add("CHR VROM", chr_size, function(a) return rom.readbyte(chr0 + a) end,
			rom.writebyte and function(a, v) rom.writebyte(chr0 + a, v) end)
	end
	M.domains, M.order = domains, order

	local current, chosen = domains["System Bus"], false
	local function pick(name, fallback)
		if name == nil or name == "" then return fallback end
		local d = domains[name]
		if d then return d end
		warn("Unable to find domain: " .. tostring(name) .. ", falling back to current")
		return fallback
	end

	-- ---------------------------------------------------------------- bytes
	local function read(d, a, size)
		if a < 0 or a + size > d.size then
			warn(string.format("Warning: attempted read of %d outside the memory size of %d", a, d.size))
			return nil
		end
		local t = {}
		for i = 1, size do t[i] = d.read(a + i - 1) end
		return t
	end
	local function write(d, a, bytes)
		if not d.write then
			warn("Error: the domain " .. d.name .. " is not writable")
			return
		end
		if a < 0 or a + #bytes > d.size then
			warn(string.format("Warning: attempted write to %d outside the memory size of %d", a, d.size))
			return
		end
		for i = 1, #bytes do d.write(a + i - 1, bytes[i] % 256) end
	end
	local function unsigned(d, a, size, big)
		local t = read(d, a, size)
		if not t then return 0 end
		local v = 0
		for i = 1, size do v = v * 256 + t[big and i or (size + 1 - i)] end
		return v
	end
	local function signed(d, a, size, big)
		local v, half = unsigned(d, a, size, big), 2 ^ (8 * size - 1)
		if v >= half then v = v - 2 * half end
		return v
	end
	local function put(d, a, size, v, big)
		v = floor(tonumber(v) or 0) % (2 ^ (8 * size))
		local t = {}
		for i = 1, size do
			t[big and (size + 1 - i) or i] = v % 256
			v = floor(v / 256)
		end
		write(d, a, t)
	end
	local function range_table(d, a, n, first)
		local t = {}
		for i = 0, n - 1 do
			local v = 0
			if a + i >= 0 and a + i < d.size then v = d.read(a + i) end
			t[i + first] = v
		end
		if a < 0 or a + n > d.size then
			warn(string.format("Warning: Attempted reads on addresses %d..%d outside range of domain %s", a, a + n - 1,
				d.name))
		end
		return t
	end

	-- ---------------------------------------------------------------- BizHawk's functions over one domain
	local function library(domain_of)
		local L = {}
		for _, spec in ipairs({ { "8", 1 }, { "16", 2 }, { "24", 3 }, { "32", 4 } }) do
			local bits, size = spec[1], spec[2]
			if size == 1 then -- the hot path of processors: no table per read
				L.read_u8 = function(a, dn)
					local d = domain_of(dn)
					if a >= 0 and a < d.size then return d.read(a) end
					return unsigned(d, a, 1)
				end
				L.read_s8 = function(a, dn)
					local v = L.read_u8(a, dn)
					if v >= 128 then v = v - 256 end
					return v
				end
				L.write_u8 = function(a, v, dn) put(domain_of(dn), a, 1, v) end
				L.write_s8 = L.write_u8
			else
				for _, e in ipairs({ { "le", false }, { "be", true } }) do
					local suffix, big = e[1], e[2]
					L["read_u" .. bits .. "_" .. suffix] = function(a, dn) return unsigned(domain_of(dn), a, size, big) end
					L["read_s" .. bits .. "_" .. suffix] = function(a, dn) return signed(domain_of(dn), a, size, big) end
					L["write_u" .. bits .. "_" .. suffix] = function(a, v, dn) put(domain_of(dn), a, size, v, big) end
					L["write_s" .. bits .. "_" .. suffix] = L["write_u" .. bits .. "_" .. suffix]
				end
			end
		end
		L.readbyte = L.read_u8
		L.writebyte = L.write_u8
		L.read_bytes_as_array = function(a, n, dn) return range_table(domain_of(dn), a, n, 1) end
		L.readbyterange = function(a, n, dn) return range_table(domain_of(dn), a, n, 0) end
		L.read_bytes_as_dict = function(a, n, dn)
			local t, src = {}, range_table(domain_of(dn), a, n, 0)
			for i = 0, n - 1 do t[a + i] = src[i] end
			return t
		end
		L.write_bytes_as_array = function(a, bytes, dn) write(domain_of(dn), a, bytes) end
		L.write_bytes_as_dict = function(map, dn)
			local d = domain_of(dn)
			for a, v in pairs(map) do write(d, a, { v }) end
		end
		L.writebyterange = L.write_bytes_as_dict
		L.readfloat = function(a, big, dn)
			local t = read(domain_of(dn), a, 4)
			if not t then return 0 end
			if big then t = { t[4], t[3], t[2], t[1] } end
			return vecbridge.unpack("float32", string_char(t[1], t[2], t[3], t[4]))[1]
		end
		L.writefloat = function(a, v, big, dn)
			local t = { string_byte(vecbridge.pack("float32", { v }), 1, 4) }
			if big then t = { t[4], t[3], t[2], t[1] } end
			write(domain_of(dn), a, t)
		end
		return L
	end

	-- mainmemory: "RAM"
	local ram = domains["RAM"]
	local mm = library(function() return ram end)
	-- the hot path of processors, without the domain lookup: 0.08 us a call instead of 0.13 (FCEUX 2.6.5,
	-- 300k calls, load 21; FCEUX's own memory.readbyte: 0.04)
	local mm_read_u8 = mm.read_u8
	mm.read_u8 = function(a)
		if a >= 0 and a < 0x800 then return fceux_read(a) end
		return mm_read_u8(a)
	end
	mm.readbyte = mm.read_u8
	mm.getname = function() return "RAM" end
	mm.getcurrentmemorydomainsize = function() return ram.size end
	mm.getsize = mm.getcurrentmemorydomainsize
	if G("mainmemory") == nil then _G.mainmemory = mm end

	-- memory: the current domain (System Bus by default), or the named one
	local lib = library(function(dn) return pick(dn, current) end)
	lib.usememorydomain = function(name)
		local d = domains[name]
		if not d then
			warn("Unable to find domain: " .. tostring(name))
			return false
		end
		current, chosen = d, true
		return true
	end
	lib.getcurrentmemorydomain = function() return current.name end
	lib.getcurrentmemorydomainsize = function() return current.size end
	lib.getmemorydomainlist = function()
		local t = {}
		for i, name in ipairs(order) do t[i] = name end
		return t
	end
	lib.getmemorydomainsize = function(name) return pick(name, current).size end
	-- FCEUX's meaning unless a domain is named or selected (see the header comment)
	lib.readbyte = function(a, dn)
		if dn == nil and not chosen then return fceux_read(a) end
		return unsigned(pick(dn, current), a, 1)
	end
	lib.writebyte = function(a, v, dn)
		if dn == nil and not chosen then return fceux_write(a, v) end
		return put(pick(dn, current), a, 1, v)
	end
	lib.readbyterange = function(a, n, dn)
		if dn == nil and not chosen then return fceux_range(a, n) end
		return range_table(pick(dn, current), a, n, 0)
	end
	for k, v in pairs(lib) do memory[k] = v end
	E._fceux_memory = { readbyte = fceux_read, writebyte = fceux_write, readbyterange = fceux_range }
	return domains
end

return M
