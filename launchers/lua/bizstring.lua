--[[
bizstring.lua: BizHawk's `bizstring` library (StringLuaLibrary.cs: .NET string methods) in pure
Lua 5.1-5.4, for processors that use it under FCEUX or plain Lua. bizhawk_api.lua installs it as
the global `bizstring` when none exists.

Positions are 0-based, as in .NET (`substring("Some string", 5, 3)` is "str"); an empty or nil
string gives nil from the string-returning functions, as BizHawk does; hex/binary/octal of a
negative number give its 64-bit two's complement ("FFFFFFFFFFFFCFC7" for -12345).
]]

local B = {}

local floor = math.floor

local function blank(s) return s == nil or s == "" end

-- the 64 bits of an integer (two's complement for negatives) as a string of 0/1
local function bits64(num)
	num = floor(tonumber(num) or 0)
	local hi, lo
	if num >= 0 then
		hi, lo = floor(num / 4294967296), num % 4294967296
	else
		local m = -num -- two's complement: (2^64 - m), computed in 32-bit halves
		local mhi, mlo = floor(m / 4294967296), m % 4294967296
		lo = (4294967296 - mlo) % 4294967296
		hi = 4294967295 - mhi + (mlo == 0 and 1 or 0)
		hi = hi % 4294967296
	end
	local out = {}
	for _, half in ipairs({ hi, lo }) do
		for i = 31, 0, -1 do out[#out + 1] = floor(half / 2 ^ i) % 2 end
	end
	return table.concat(out)
end

local function in_base(num, group)
	local b = bits64(num)
	local pad = (group - #b % group) % group
	b = string.rep("0", pad) .. b
	local digits = {}
	for i = 1, #b, group do digits[#digits + 1] = string.format("%X", tonumber(string.sub(b, i, i + group - 1), 2)) end
	local s = string.gsub(table.concat(digits), "^0+", "")
	return s
end

function B.hex(num)
	local s = in_base(num, 4)
	if #s < 2 then s = string.rep("0", 2 - #s) .. s end
	return s
end

function B.binary(num)
	return in_base(num, 1) -- .NET's Convert.ToString(n, 2) with leading zeros trimmed: "" for 0
end

function B.octal(num)
	local s = in_base(num, 3)
	if #s < 2 then s = string.rep("0", 2 - #s) .. s end
	return s
end

function B.trim(s)
	if blank(s) then return nil end
	return (string.gsub(s, "^%s*(.-)%s*$", "%1"))
end

function B.replace(s, old, new)
	if blank(s) then return nil end
	if blank(old) then error("bizstring.replace: the string to replace must not be empty", 2) end
	local out, i = {}, 1
	while true do
		local a, b = string.find(s, old, i, true)
		if not a then break end
		out[#out + 1] = string.sub(s, i, a - 1)
		out[#out + 1] = new or ""
		i = b + 1
	end
	out[#out + 1] = string.sub(s, i)
	return table.concat(out)
end

function B.toupper(s) if blank(s) then return nil end return string.upper(s) end
function B.tolower(s) if blank(s) then return nil end return string.lower(s) end

function B.substring(s, position, length)
	if blank(s) then return nil end
	if position < 0 or length < 0 or position + length > #s then
		error(string.format("bizstring.substring: position %d and length %d are outside the string (length %d)", position,
			length, #s), 2)
	end
	return string.sub(s, position + 1, position + length)
end

function B.remove(s, position, count)
	if blank(s) then return nil end
	if position < 0 or count < 0 or position + count > #s then
		error(string.format("bizstring.remove: position %d and count %d are outside the string (length %d)", position, count,
			#s), 2)
	end
	return string.sub(s, 1, position) .. string.sub(s, position + count + 1)
end

function B.contains(s, part) return not blank(s) and string.find(s, part, 1, true) ~= nil end
function B.startswith(s, part) return not blank(s) and string.sub(s, 1, #part) == part end
function B.endswith(s, part) return not blank(s) and (#part == 0 or string.sub(s, -#part) == part) end

function B.split(s, separator)
	local t = {}
	if blank(s) then return t end
	if type(separator) ~= "string" or #separator ~= 1 then separator = "," end
	for piece in string.gmatch(s, "[^" .. string.gsub(separator, "%W", "%%%0") .. "]+") do t[#t + 1] = piece end
	return t
end

function B.pad_start(s, length, pad)
	s = s or ""
	pad = (pad and pad ~= "") and string.sub(pad, 1, 1) or " "
	if #s >= length then return s end
	return string.rep(pad, length - #s) .. s
end

function B.pad_end(s, length, pad)
	s = s or ""
	pad = (pad and pad ~= "") and string.sub(pad, 1, 1) or " "
	if #s >= length then return s end
	return s .. string.rep(pad, length - #s)
end

return B
