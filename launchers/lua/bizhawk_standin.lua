--[[
bizhawk_standin.lua: BizHawk's `comm` socket API and `userdata` API for plain Lua.

Installs the globals `comm` and `userdata` so that a script written for EmuHawk
runs under lua5.4 / lua5.1 / luajit with LuaSocket, talking over the wire exactly
as EmuHawk does. For tests, and for developing a BizHawk game without BizHawk:

    lua5.4 -l bizhawk_standin my_bizhawk_game.lua
    -- or, inside a script:  require("bizhawk_standin")

What it emulates (BizHawk 2.6.2 and later, src/BizHawk.Client.Common/Api/SocketServer.cs):

* EmuHawk is the TCP *client*. With `--socket_ip=IP --socket_port=PORT` it connects
  at start-up; here IP and PORT come from the environment: BIZHAWK_SOCKET_IP /
  BIZHAWK_SOCKET_PORT, else VECBRIDGE_HOST / VECBRIDGE_PORT. With neither, there is no
  socket server and the comm.socketServer* functions behave as in an EmuHawk started
  without those flags (send returns -1, response returns nil).
* comm.socketServerSend(s): writes "<byte length of s> <s>"; returns the number of
  bytes sent (prefix included), or -1 on error.
* comm.socketServerResponse(): reads ASCII digits up to a space, then exactly that many
  bytes; returns them, or "" on timeout or any error.
* comm.socketServerSetTimeout(ms): receive timeout in milliseconds; 0 = forever (the default).
* comm.socketServerIsConnected(), comm.socketServerSuccessful() (did the last send
  succeed), comm.socketServerGetIp/GetPort/GetInfo, comm.socketServerSetIp/SetPort
  (reconnect).
* userdata.get(k) / set / containskey / remove / clear / get_keys: EmuHawk's
  `--userdata=k1:v1;k2:v2`, read here from the environment variable BIZHAWK_USERDATA in
  the same syntax, parsed as EmuHawk parses it ("true"/"false" become booleans, 32-bit
  integers become numbers, other numbers become floats, the rest stay strings). A key
  not given there falls back to the environment variable of the upper-cased key
  (`userdata.get("vecbridge_instance")` reads VECBRIDGE_INSTANCE), kept as text.

Known differences: EmuHawk marks the socket disconnected only when it polls it; here
socketServerIsConnected() turns false as soon as a read meets the end of the stream
(under EmuHawk a read at end of stream fails and returns "" too).

comm.socketServerScreenShot() sends "<byte length> <PNG bytes>" (the bytes as they are, no
base64) and returns "Screenshot was sent", as EmuHawk does. With no emulator here, the PNG
comes from `standin.screenshot_png()`: by default the `client.screenshot(path)` of whatever
emulator stand-in is loaded (tests/games/lua/fake_bizhawk_emu.lua), read back from a file
in VECBRIDGE_WORKDIR; a script may replace the function.
]]

local socket = require("socket")

local M = {}

local function getenv(name)
	local v = os.getenv(name)
	if v == "" then return nil end
	return v
end

-- ------------------------------------------------------------------ comm

local state = {
	ip = getenv("BIZHAWK_SOCKET_IP") or (getenv("BIZHAWK_SOCKET_PORT") == nil and getenv("VECBRIDGE_HOST")) or nil,
	port = tonumber(getenv("BIZHAWK_SOCKET_PORT") or getenv("VECBRIDGE_PORT") or ""),
	sock = nil,
	connected = false,
	successful = false,
	timeout_ms = 0,
}
if state.port and not state.ip then state.ip = "127.0.0.1" end

local function log(msg)
	io.stderr:write("[bizhawk_standin] ", msg, "\n")
end

local function connect()
	if state.sock then state.sock:close() end
	state.sock, state.connected = nil, false
	local sock, err = socket.connect(state.ip, state.port)
	if not sock then
		error("bizhawk_standin: cannot connect to " .. tostring(state.ip) .. ":" .. tostring(state.port) .. ": " ..
			tostring(err), 0)
	end
	sock:setoption("tcp-nodelay", true)
	sock:settimeout(state.timeout_ms > 0 and state.timeout_ms / 1000 or nil)
	state.sock, state.connected = sock, true
end

local function has_server()
	if state.ip == nil or state.port == nil then
		log("Socket server was not initialized, please initialize it via the command line")
		return false
	end
	return true
end

local comm = {}

function comm.socketServerSend(s)
	if not has_server() then return -1 end
	if not state.sock then
		local ok = pcall(connect)
		if not ok then return -1 end
	end
	s = tostring(s)
	local data = #s .. " " .. s
	local i = 1
	while i <= #data do
		local last, err, partial = state.sock:send(data, i)
		if last then
			i = last + 1
		elseif partial and partial >= i and err == "timeout" then
			i = partial + 1
		else
			if err == "closed" then state.connected = false end
			state.successful = false
			return -1
		end
	end
	state.successful = true
	return #data
end

function comm.socketServerResponse()
	if not has_server() then return nil end
	if not state.sock then -- EmuHawk connects when not connected; it never reconnects a socket that failed
		local ok = pcall(connect)
		if not ok then return "" end
	end
	local sock = state.sock
	local digits = {}
	while true do
		local c, err = sock:receive(1)
		if not c then
			if err == "closed" then state.connected = false end
			return ""
		end
		if c == " " then break end
		digits[#digits + 1] = c
		if #digits > 10 then return "" end -- int.Parse would fail
	end
	local n = tonumber(table.concat(digits))
	if n == nil or n < 0 or n ~= math.floor(n) or not table.concat(digits):match("^%d+$") then return "" end
	if n == 0 then return "" end
	local data, err = sock:receive(n)
	if not data then
		if err == "closed" then state.connected = false end
		return ""
	end
	return data
end

function comm.socketServerSetTimeout(ms)
	if not has_server() then return end
	state.timeout_ms = tonumber(ms) or 0
	if state.sock then state.sock:settimeout(state.timeout_ms > 0 and state.timeout_ms / 1000 or nil) end
end

function comm.socketServerIsConnected()
	return state.connected
end

function comm.socketServerSuccessful()
	return has_server() and state.successful
end

function comm.socketServerGetIp() return state.ip end
function comm.socketServerGetPort() return state.port end
function comm.socketServerGetInfo()
	if not has_server() then return "" end
	return state.ip .. ":" .. state.port
end
function comm.socketServerSetIp(ip)
	state.ip = ip
	if has_server() then connect() end
end
function comm.socketServerSetPort(port)
	state.port = tonumber(port)
	if has_server() then connect() end
end
-- the PNG bytes of the screen (replaceable); EmuHawk encodes its own screen
function M.screenshot_png()
	local client = rawget(_G, "client")
	if type(client) ~= "table" or type(client.screenshot) ~= "function" then
		error("bizhawk_standin: there is no screen to send (load an emulator stand-in with client.screenshot, " ..
			"or set standin.screenshot_png)", 0)
	end
	local dir = getenv("VECBRIDGE_WORKDIR")
	local path = dir and (dir .. "/bizhawk_standin_screen.png") or os.tmpname()
	client.screenshot(path)
	local f = assert(io.open(path, "rb"))
	local data = f:read("*a")
	f:close()
	os.remove(path)
	return data
end

-- EmuHawk (SocketServer.SendScreenshot): the PNG bytes with the length prefix, no base64
function comm.socketServerScreenShot()
	if not has_server() then return "Screenshot could not be sent" end
	if not state.sock then
		local ok = pcall(connect)
		if not ok then return "Screenshot could not be sent" end
	end
	local png = M.screenshot_png()
	local data = #png .. " " .. png
	local i = 1
	while i <= #data do
		local last, err, partial = state.sock:send(data, i)
		if last then
			i = last + 1
		elseif partial and partial >= i and err == "timeout" then
			i = partial + 1
		else
			if err == "closed" then state.connected = false end
			state.successful = false
			return "Screenshot could not be sent"
		end
	end
	state.successful = true
	return "Screenshot was sent"
end

-- ------------------------------------------------------------------ userdata

-- EmuHawk: "true"/"false" -> boolean; int.TryParse -> 32-bit integer; double.TryParse -> float; else string
local function parse_userdata_value(v)
	if v == "true" then return true end
	if v == "false" then return false end
	local trimmed = v:match("^%s*(.-)%s*$")
	if trimmed:match("^[-+]?%d+$") then
		local n = tonumber(trimmed)
		if n and n >= -2147483648 and n <= 2147483647 then return math.tointeger and math.tointeger(n) or n end
	end
	if trimmed == "Infinity" or trimmed == "+Infinity" then return math.huge end
	if trimmed == "-Infinity" then return -math.huge end
	if trimmed == "NaN" then return 0 / 0 end
	if trimmed:match("^[-+]?%d*%.?%d*[eE]?[-+]?%d*$") and trimmed:match("%d") then
		local n = tonumber(trimmed)
		if n then return n + 0.0 end
	end
	return v
end

local bag = {}
local given = {}
do
	local text = os.getenv("BIZHAWK_USERDATA")
	if text and text ~= "" then
		for pair in (text .. ";"):gmatch("([^;]*);") do
			local colon = pair:find(":", 1, true)
			if not colon then error("bizhawk_standin: malformed BIZHAWK_USERDATA (';' without ':')", 0) end
			local k = pair:sub(1, colon - 1)
			bag[k] = parse_userdata_value(pair:sub(colon + 1))
			given[k] = true
		end
	end
end

local userdata = {}

function userdata.get(key)
	if given[key] or bag[key] ~= nil then return bag[key] end
	if type(key) == "string" then return getenv(key:upper()) end
	return nil
end

function userdata.set(key, value)
	bag[key] = value
	given[key] = true
end

function userdata.containskey(key)
	return userdata.get(key) ~= nil
end

function userdata.remove(key)
	local had = userdata.containskey(key)
	bag[key] = nil
	given[key] = true -- removed: no environment fallback either
	return had
end

function userdata.clear()
	bag = {}
	for k in pairs(given) do given[k] = nil end
end

function userdata.get_keys()
	local keys = {}
	for k, v in pairs(bag) do if v ~= nil then keys[#keys + 1] = k end end
	table.sort(keys)
	return keys
end

-- ------------------------------------------------------------------ install

-- EmuHawk connects at start-up when --socket_ip/--socket_port are given.
if state.ip and state.port then connect() end

_G.comm = comm
_G.userdata = userdata
M.comm, M.userdata, M.state = comm, userdata, state
return M
