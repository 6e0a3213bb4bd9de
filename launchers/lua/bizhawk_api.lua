--[[
bizhawk_api.lua: BizHawk's Lua API names under FCEUX, so that a processor written for BizHawk
runs there unchanged. Installed by emu.lua's E.install_bizhawk_api() (bizhawk.lua calls it
before the processor's setup). Only what FCEUX lacks is added; FCEUX's own functions keep
working. docs/backends/bizhawk-api.md has the table of every function and its status.

  memory / mainmemory   bizhawk_memory.lua (domains)
  event                 frame, exit, savestate and memory callbacks over emu.register* and
                        memory.register*; several callbacks per event, ids and names
  bizstring             bizstring.lua (pure Lua)
  comm                  the calls that can mean something here: vecbridge owns the connection
  client, gameinfo, emu, joypad, savestate, memorysavestate, userdata, console, gui
]]

local A = {}

local floor, table_concat = math.floor, table.concat

local function G(name) return rawget(_G, name) end
local function noop() end

local FCEUX_NAMES = {
	up = "up", down = "down", left = "left", right = "right", a = "A", b = "B", start = "start", select = "select",
}

-- ------------------------------------------------------------------ event

local function new_guid(n)
	local hex = string.format("%08x", n)
	return string.format("%s-0000-4000-8000-%012x", hex, (n * 2654435761) % 281474976710656)
end

local function install_event(E)
	local emu_, memory, savestate = G("emu"), G("memory"), G("savestate")
	local lists = { start = {}, ["end"] = {}, exit = {}, load = {}, save = {} }
	local by_id, count = {}, 0
	local mem_hooks = {} -- key "write:0010" -> { list = {...}, register = fn, addr, size }

	local function run(list, ...)
		for i = 1, #list do list[i].fn(...) end
	end
	emu_.registerbefore(function() run(lists.start) end)
	emu_.registerafter(function() run(lists["end"]) end)
	emu_.registerexit(function() run(lists.exit) end)
	E._event_lists = lists

	local function add(list, fn, name, on_remove)
		if type(fn) ~= "function" then error("event: expected a function, got " .. tostring(fn), 3) end
		count = count + 1
		local entry = { fn = fn, name = name, guid = new_guid(count), list = list, on_remove = on_remove }
		list[#list + 1] = entry
		by_id[entry.guid] = entry
		return entry
	end
	local function remove(entry)
		for i = #entry.list, 1, -1 do
			if entry.list[i] == entry then table.remove(entry.list, i) end
		end
		by_id[entry.guid] = nil
		if entry.on_remove then entry.on_remove() end
	end

	local ev = {}
	function ev.onframestart(fn, name) return add(lists.start, fn, name).guid end
	function ev.onframeend(fn, name) return add(lists["end"], fn, name).guid end
	function ev.onexit(fn, name) return add(lists.exit, fn, name).guid end
	function ev.onloadstate(fn, name) return add(lists.load, fn, name).guid end
	function ev.onsavestate(fn, name) return add(lists.save, fn, name).guid end
	function ev.onconsoleclose(fn, name) return add({}, fn, name).guid end -- there is no console to close
	function ev.oninputpoll()
		error("FCEUX does not implement input polling callbacks (event.oninputpoll is not possible here)", 2)
	end

	local KINDS = { read = memory.registerread, write = memory.registerwrite, exec = memory.registerexec }
	local function on_memory(kind, fn, addr, name, scope)
		if scope ~= nil and scope ~= "System Bus" then
			error(tostring(scope) .. " is not an available scope for FCEUX (only \"System Bus\")", 3)
		end
		local register = KINDS[kind]
		if not register then error("FCEUX has no memory " .. kind .. " callbacks", 3) end
		local a, size = addr or 0, addr and 1 or 0x10000 -- no address: every address of the bus
		local key = kind .. ":" .. (addr and string.format("%04x", addr) or "any")
		local hook = mem_hooks[key]
		if not hook then
			hook = { list = {} }
			mem_hooks[key] = hook
			register(a, size, function(address, _, value) run(hook.list, address, value or 0, 0) end)
		end
		return add(hook.list, fn, name, function()
			if #hook.list == 0 then
				register(a, size, nil)
				mem_hooks[key] = nil
			end
		end).guid
	end
	function ev.onmemoryread(fn, addr, name, scope) return on_memory("read", fn, addr, name, scope) end
	function ev.onmemorywrite(fn, addr, name, scope) return on_memory("write", fn, addr, name, scope) end
	function ev.onmemoryexecute(fn, addr, name, scope)
		if addr == nil then error("event.onmemoryexecute: an address is required (onmemoryexecuteany for all)", 2) end
		return on_memory("exec", fn, addr, name, scope)
	end
	function ev.onmemoryexecuteany(fn, name, scope) return on_memory("exec", fn, nil, name, scope) end
	ev.on_bus_read, ev.on_bus_write, ev.on_bus_exec, ev.on_bus_exec_any =
		ev.onmemoryread, ev.onmemorywrite, ev.onmemoryexecute, ev.onmemoryexecuteany
	function ev.unregisterbyid(guid)
		local entry = by_id[guid]
		if not entry then return false end
		remove(entry)
		return true
	end
	function ev.unregisterbyname(name)
		local found = false
		for _, entry in pairs(by_id) do
			if entry.name == name then
				remove(entry)
				found = true
			end
		end
		return found
	end
	function ev.availableScopes() return { "System Bus" } end
	function ev.can_use_callback_params(subset) return subset == "memory" end

	-- BizHawk fires onsavestate/onloadstate for every savestate, including the script's own
	local save_, load_ = savestate.save, savestate.load
	savestate.save = function(...)
		local r = save_(...)
		run(lists.save, (...))
		return r
	end
	savestate.load = function(...)
		local r = load_(...)
		run(lists.load, (...))
		return r
	end
	return ev
end

-- ------------------------------------------------------------------ comm

local function install_comm()
	local vecbridge = require("vecbridge")
	local function owned(fn_name)
		return function()
			error("comm." .. fn_name .. " is not available under vecbridge: the socket carries vecbridge's protocol " ..
				"(return values from step/getObservation/getInfo instead)", 2)
		end
	end
	local comm = { __vecbridge_emulated = true }
	for _, name in ipairs({ "socketServerSend", "socketServerSendBytes", "socketServerResponse", "socketServerScreenShot",
		"socketServerScreenShotResponse", "socketServerSetIp", "socketServerSetPort", "mmfWrite", "mmfWriteBytes",
		"mmfRead", "mmfReadBytes", "mmfScreenshot", "mmfSetFilename", "mmfGetFilename", "mmfCopyFromMemory",
		"mmfCopyToMemory", "httpGet", "httpPost", "httpPostScreenshot", "httpTest", "httpTestGet", "ws_open", "ws_send",
		"ws_receive", "ws_close" }) do
		comm[name] = owned(name)
	end
	function comm.socketServerIsConnected() return vecbridge.connection ~= nil end
	function comm.socketServerSuccessful() return vecbridge.connection ~= nil end
	function comm.socketServerSetTimeout() end
	function comm.socketServerGetIp() return os.getenv("VECBRIDGE_HOST") end
	function comm.socketServerGetPort() return tonumber(os.getenv("VECBRIDGE_PORT") or "") end
	function comm.socketServerGetInfo()
		return tostring(os.getenv("VECBRIDGE_HOST")) .. ":" .. tostring(os.getenv("VECBRIDGE_PORT"))
	end
	function comm.getluafunctionslist()
		local names = {}
		for k in pairs(comm) do if type(comm[k]) == "function" then names[#names + 1] = k end end
		table.sort(names)
		return table_concat(names, "\n")
	end
	return comm
end

-- ------------------------------------------------------------------ the rest

function A.install(E)
	local emu_, memory, joypad, savestate, gui, rom = G("emu"), G("memory"), G("joypad"), G("savestate"), G("gui"),
		G("rom")
	local dir = string.match(debug.getinfo(1, "S").source or "", "^@(.*[/\\])") or ""
	local function load_neighbour(name) return assert(loadfile(dir .. name .. ".lua"))() end

	-- print/console.log go to stderr (FCEUX's console is invisible when headless)
	local function log_values(...)
		local parts = {}
		for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
		E.log(table_concat(parts, "\t"))
	end
	_G.print = log_values
	if G("console") == nil then
		_G.console = { log = log_values, writeline = log_values, clear = noop, write = log_values,
			getluafunctionslist = function() return "" end }
	end

	-- joypad.set(table, player) as well as FCEUX's joypad.set(player, table)
	local fceux_set, fceux_get = joypad.set, joypad.get
	E._fceux_joypad_set = fceux_set
	joypad.set = function(a, b)
		if type(a) == "table" then return E.set_buttons(a, b or 1) end
		return fceux_set(a, b)
	end
	-- joypad.get(): BizHawk's form {["P1 Up"]=false, ...}; with a player: {Up=false, ...}
	joypad.get = function(p)
		local cur = fceux_get(p or 1) or {}
		local t = {}
		for _, name in ipairs(E.BUTTONS) do
			local down = cur[FCEUX_NAMES[string.lower(name)]] and true or false
			t[p and name or ("P1 " .. name)] = down
		end
		if p == nil then t.Power, t.Reset = false, false end
		return t
	end
	joypad.getimmediate = joypad.getimmediate or joypad.get
	joypad.setanalog = noop -- the NES has no analog controls
	joypad.setfrommnemonicstr = function()
		error("joypad.setfrommnemonicstr is not available under FCEUX", 2)
	end

	load_neighbour("bizhawk_memory").install(E)

	-- emu
	local function register(name) return memory.getregister and memory.getregister(string.lower(name)) end
	emu_.getsystemid = emu_.getsystemid or function() return "NES" end
	emu_.islagged = emu_.islagged or function() return emu_.lagged() end
	emu_.yield = emu_.yield or noop -- BizHawk runs a GUI frame without emulating; here there is nothing to run
	emu_.getregister = emu_.getregister or register
	emu_.getregisters = emu_.getregisters or function()
		local t = {}
		for _, r in ipairs({ "A", "X", "Y", "S", "P", "PC" }) do t[r] = register(r) end
		return t
	end
	emu_.setregister = emu_.setregister or function(name, v) return memory.setregister(string.lower(name), v) end
	emu_.totalexecutedcycles = emu_.totalexecutedcycles or function()
		local d = G("debugger")
		return d and d.getcyclescount and d.getcyclescount() or 0
	end
	emu_.getboardname = emu_.getboardname or function() return "" end
	emu_.getdisplaytype = emu_.getdisplaytype or function() return "NTSC" end
	emu_.limitframerate, emu_.minimizeframeskip, emu_.displayvsync = noop, noop, noop

	-- client
	if G("client") == nil then
		_G.client = {
			speedmode = function(p) emu_.speedmode((tonumber(p) or 100) > 100 and "maximum" or "normal") end,
			pause = noop, unpause = noop, togglepause = noop, SetSoundOn = noop, GetSoundOn = function() return false end,
			invisibleemulation = noop, enablerewind = noop, frameskip = noop, displaymessages = noop, clearautohold = noop,
			seekframe = function(f) while emu_.framecount() < f do emu_.frameadvance() end end,
			getversion = function() return "FCEUX (vecbridge bizhawk_api.lua)" end,
			screenshot = function(path) return gui.savescreenshotas(path) end,
			reboot_core = function() emu_.poweron() end,
			openrom = function(path)
				error("client.openrom is not possible under FCEUX once a game runs (the ROM is given on FCEUX's command " ..
					"line; vecbridge takes it from the processor's ROM): " .. tostring(path), 2)
			end,
			exit = function() emu_.exit() end, exitCode = function(c) os.exit(c) end,
			bufferwidth = function() return 256 end, bufferheight = function() return 240 end,
			screenwidth = function() return 256 end, screenheight = function() return 240 end,
			getromname = function() return rom and rom.getfilename() end,
			ispaused = function() return emu_.paused() end,
			isturbo = function() return false end,
		}
	end

	-- gameinfo
	if G("gameinfo") == nil then
		_G.gameinfo = {
			getromname = function() return rom.getfilename() end,
			getromhash = function()
				E._sha1 = E._sha1 or string.upper((E.rom_hash(string.rep("0", 40), E.rom_path)))
				return E._sha1
			end,
			getboardtype = function() return "" end,
			getstatus = function() return "" end,
			indatabase = function() return false end,
			getoptions = function() return {} end,
		}
	end

	-- savestate: BizHawk's path/slot forms (kept in memory for this run)
	local fceux_save, fceux_load = savestate.save, savestate.load
	local by_path = {}
	savestate.save = function(s, ...)
		if type(s) == "string" then
			by_path[s] = by_path[s] or savestate.create()
			return fceux_save(by_path[s])
		end
		return fceux_save(s, ...)
	end
	savestate.load = function(s, ...)
		if type(s) == "string" then
			if not by_path[s] then error("savestate.load: no state was saved as " .. s, 2) end
			return fceux_load(by_path[s])
		end
		return fceux_load(s, ...)
	end
	savestate.saveslot = savestate.saveslot or function(n) return fceux_save(savestate.object(n)) end
	savestate.loadslot = savestate.loadslot or function(n) return fceux_load(savestate.object(n)) end
	if G("memorysavestate") == nil then
		local states, n = {}, 0
		_G.memorysavestate = {
			savecorestate = function()
				n = n + 1
				local s = savestate.create()
				fceux_save(s)
				states[tostring(n)] = s
				return tostring(n)
			end,
			loadcorestate = function(id) return fceux_load(states[id]) end,
			removestate = function(id) states[id] = nil end,
			clearstatesfrommemory = function() states = {} end,
		}
	end

	if G("event") == nil then _G.event = install_event(E) end
	if G("bizstring") == nil then _G.bizstring = load_neighbour("bizstring") end
	if G("comm") == nil then _G.comm = install_comm() end
	if G("userdata") == nil then
		local bag = {}
		_G.userdata = {
			get = function(k) return bag[k] end, set = function(k, v) bag[k] = v end,
			containskey = function(k) return bag[k] ~= nil end,
			remove = function(k) local had = bag[k] ~= nil; bag[k] = nil; return had end,
			clear = function() bag = {} end,
			get_keys = function() local t = {} for k in pairs(bag) do t[#t + 1] = k end table.sort(t) return t end,
		}
	end

	-- drawing: no-ops when headless (BizHawk names); FCEUX's own gui.* stay
	for _, name in ipairs({ "drawBox", "drawRectangle", "drawText", "drawString", "drawLine", "drawPixel",
		"drawEllipse", "drawImage", "drawImageRegion", "drawPolygon", "drawPie", "drawArc", "drawAxis", "clearGraphics",
		"cleartext", "DrawNew", "DrawFinish", "addmessage", "pixelText", "defaultForeground", "defaultBackground",
		"defaultTextBackground", "defaultPixelFont", "clearImageCache", "use_surface", "createcanvas" }) do
		if gui[name] == nil then gui[name] = noop end
	end
	return A
end

return A
