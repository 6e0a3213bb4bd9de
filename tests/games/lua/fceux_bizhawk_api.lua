-- BizHawk's Lua surface under real FCEUX (launchers/lua/bizhawk_api.lua), on efp.nes.
-- Run as FCEUX's --loadlua script with VECBRIDGE_LAUNCHERS set; writes "ok" (or the failures)
-- to stderr and exits FCEUX with 0 (or 1).
local launchers = assert(os.getenv("VECBRIDGE_LAUNCHERS"), "set VECBRIDGE_LAUNCHERS")
package.path = launchers .. "/lua/?.lua;" .. package.path
local E = dofile(launchers .. "/lua/emu.lua")
local failures = 0

local function check(name, cond, detail)
	if not cond then
		failures = failures + 1
		io.stderr:write("FAIL ", name, detail ~= nil and (": " .. tostring(detail)) or "", "\n")
	end
end

local function finish()
	io.stderr:write(failures == 0 and "ok\n" or (failures .. " failure(s)\n"))
	io.stderr:flush()
	os.exit(failures == 0 and 0 or 1)
end

-- frameadvance yields: run the checks the way the processor runtime runs processors
local ok, err = require("bizhawk").protected(function()
	local fceux_readbyte = memory.readbyte
	emu.frameadvance()
	E.install_bizhawk_api()

	-- memory domains
	memory.writebyte(0x30, 9) -- FCEUX's own calls, before any domain is named: unchanged
	check("FCEUX readbyterange: a string", memory.readbyterange(0x30, 1) == "\9")
	check("default domain", memory.getcurrentmemorydomain() == "System Bus", memory.getcurrentmemorydomain())
	local list = memory.getmemorydomainlist()
	local names = table.concat(list, "|")
	check("domain list", names == "RAM|System Bus|PPU Bus|CIRAM (nametables)|PALRAM|PRG ROM", names)
	check("usememorydomain RAM", memory.usememorydomain("RAM") == true and memory.getcurrentmemorydomainsize() == 0x800)
	check("usememorydomain OAM is not possible", memory.usememorydomain("OAM") == false)
	check("still RAM", memory.getcurrentmemorydomain() == "RAM")
	memory.write_u8(0x20, 7)
	check("RAM write/read", mainmemory.read_u8(0x20) == 7 and memory.read_u8(0x820, "System Bus") == 7)
	memory.write_u16_be(0x21, 0x1234)
	check("u16 be/le", memory.read_u16_be(0x21) == 0x1234 and memory.read_u16_le(0x21) == 0x3412)
	memory.write_s8(0x23, -1)
	check("s8", memory.read_s8(0x23) == -1 and memory.read_u8(0x23) == 255)
	memory.write_u32_le(0x24, 0x89ABCDEF)
	check("u32", memory.read_u32_le(0x24) == 0x89ABCDEF and memory.read_s32_le(0x24) == 0x89ABCDEF - 2 ^ 32)
	memory.writefloat(0x28, 1.5, false)
	check("float", memory.readfloat(0x28, false) == 1.5)
	check("out of range reads 0", memory.read_u8(0x900) == 0)
	check("read_bytes_as_array", table.concat(memory.read_bytes_as_array(0x20, 2), ",") == "7,18")
	local z = memory.readbyterange(0x20, 2)
	check("readbyterange with a domain selected: zero-indexed table", type(z) == "table" and z[0] == 7 and z[1] == 18)
	local dict = memory.read_bytes_as_dict(0x20, 2)
	check("read_bytes_as_dict", dict[0x20] == 7 and dict[0x21] == 18)
	memory.usememorydomain("System Bus")
	check("PRG ROM (16 KiB mirrored at $8000 and $C000)", memory.read_u8(0, "PRG ROM") == fceux_readbyte(0x8000)
		and memory.read_u8(0x10, "PRG ROM") == fceux_readbyte(0xC010) and memory.getmemorydomainsize("PRG ROM") == 16384)
	check("PALRAM", memory.read_u8(0, "PALRAM") == ppu.readbyte(0x3F00))
	-- efp.nes has horizontal mirroring: CIRAM's second page is the nametable at $2800
	check("CIRAM", memory.read_u8(5, "CIRAM (nametables)") == ppu.readbyte(0x2005)
		and memory.read_u8(0x405, "CIRAM (nametables)") == ppu.readbyte(0x2805))
	local before = memory.read_u8(0x10, "PPU Bus")
	memory.write_u8(0x10, (before + 1) % 256, "PPU Bus")
	check("PPU Bus is read-only", memory.read_u8(0x10, "PPU Bus") == before)
	check("mainmemory", mainmemory.getname() == "RAM" and mainmemory.getcurrentmemorydomainsize() == 2048)

	-- event
	local starts, ends = 0, 0
	event.onframestart(function() starts = starts + 1 end, "counter")
	local end_id = event.onframeend(function() ends = ends + 1 end)
	emu.frameadvance()
	emu.frameadvance()
	check("frame callbacks", starts == 2 and ends == 2, starts .. " " .. ends)
	check("unregisterbyname", event.unregisterbyname("counter") == true)
	check("unregisterbyid", event.unregisterbyid(end_id) == true and event.unregisterbyid(end_id) == false)
	emu.frameadvance()
	check("unregistered", starts == 2 and ends == 2)
	local writes = {}
	local wid = event.onmemorywrite(function(addr, val) writes[#writes + 1] = addr end, 0x20)
	for _ = 1, 30 do emu.frameadvance() end
	check("memory write callback", #writes > 0 and writes[1] == 0x20, #writes)
	event.unregisterbyid(wid)
	local n = #writes
	for _ = 1, 5 do emu.frameadvance() end
	check("memory write callback removed", #writes == n)
	local loads, saves = 0, 0
	event.onloadstate(function() loads = loads + 1 end)
	event.onsavestate(function() saves = saves + 1 end)
	savestate.save("here.State")
	savestate.load("here.State")
	check("savestate callbacks", loads == 1 and saves == 1)
	check("oninputpoll is not possible", not pcall(event.oninputpoll, function() end))
	check("scopes", event.availableScopes()[1] == "System Bus")

	-- bizstring, comm, client, gameinfo, emu, joypad
	check("bizstring", bizstring.hex(255) == "FF" and bizstring.substring("Some string", 5, 3) == "str")
	check("comm is not connected", comm.socketServerIsConnected() == false)
	local sent, why = pcall(comm.socketServerSend, "x")
	check("comm.socketServerSend says why", not sent and string.find(tostring(why), "not available under vecbridge", 1, true))
	check("comm is no transport", comm.__vecbridge_emulated == true)
	check("emu.getsystemid", emu.getsystemid() == "NES")
	check("emu.getregister", type(emu.getregister("PC")) == "number")
	check("client", type(client.getversion()) == "string" and client.bufferwidth() == 256)
	check("gameinfo", type(gameinfo.getromname()) == "string" and #gameinfo.getromhash() == 40)
	local keys = joypad.get()
	check("joypad.get (BizHawk names)", keys["P1 A"] == false and keys["P1 Start"] == false)
	joypad.set({ Right = true }, 1)
	emu.frameadvance()
	check("userdata", userdata.get("x") == nil and (userdata.set("x", 1) or true) and userdata.get("x") == 1)
end)
if not ok then check("no error", false, err) end
finish()
