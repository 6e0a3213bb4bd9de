--[[
gymbizhawk_spaces.lua: gym-bizhawk's ACTION / OBSERVATION type strings as vecbridge spaces
(JSON space descriptions, docs/protocol.md section 5), the conversions between wire values
and what a processor sees, and action masks from getInvalidActions(). Pure Lua (5.1-5.4,
LuaJIT): no emulator, no socket; tested by tests/games/lua/gymbizhawk_spaces_unit.lua.

Two generations of declarations (see /work/notes/gymbizhawk.md, or docs/backends/fceux.md):
  "v2": ACTION (list) and OBSERVATION (one string for every value): gym-bizhawk up to v0.2.2
        and its pre-release (bizhawk.new / init).
  "v3": ACTION_SPACE and OBSERVATION_SPACE (lists; "[N]" repeats an item, "*" means "the
        rest" in observations): gym-bizhawk v0.3.
Two forms of the spaces built from them:
  "flat" (default): what Stable-Baselines3 trains: discrete actions as Discrete/MultiDiscrete,
        continuous ones as one Box, observations as one 1-D Box with per-item bounds.
  "gym-bizhawk": the spaces gym-bizhawk's Python side builds for that generation (Tuples).

Items: "bool", "int", "int LO HI", "float", "float LO HI"; a count as "int[5] 0 9" (v0.3's
place) or "int 0 9 [5]" (vecbridge's); "int* 0 9" for the rest. Bounds may be hex ("0x10").
]]

local S = {}

local huge, floor = math.huge, math.floor

local function fail(msg) error(msg, 0) end

local function number(text, kind, orig)
	local v
	if text == "inf" or text == "+inf" then v = huge
	elseif text == "-inf" then v = -huge
	else v = tonumber(text) end
	if v == nil or (kind == "int" and v ~= floor(v)) then
		fail(string.format("invalid type string %q: the bounds of '%s' must be %s", orig, kind,
			kind == "int" and "integers" or "numbers"))
	end
	return v
end

--- parse_item("int[5] 0 9") -> { kind = "int", lo = 0, hi = 9, count = 5 | nil, rest = false }
function S.parse_item(text)
	if type(text) ~= "string" then fail("a type string must be a string, got " .. tostring(text)) end
	local s = string.match(text, "^%s*(.-)%s*$")
	local count, rest
	local body, n = string.match(s, "^(.-)%s*%[%s*(%d+)%s*%]$") -- "int 0 9 [5]"
	if body then s, count = body, tonumber(n) end
	local kind, tail = string.match(s, "^(%a+)(.*)$")
	if tail and string.sub(tail, 1, 1) == "[" then -- "int[5] 0 9"
		local n2, after = string.match(tail, "^%[%s*(%d+)%s*%](.*)$")
		if n2 then count, tail = tonumber(n2), after else kind = nil end
	elseif tail and string.sub(tail, 1, 1) == "*" then -- "int* 0 9"
		rest, tail = true, string.sub(tail, 2)
	elseif tail and tail ~= "" and not string.find(tail, "^%s") then
		kind = nil
	end
	tail = tail and string.match(tail, "^%s*(.-)%s*$") or ""
	if kind ~= "bool" and kind ~= "int" and kind ~= "float" then
		fail(string.format("invalid type string %q; expected bool, int, int LO HI, float or float LO HI, " ..
			"optionally with [N] or * after the type", text))
	end
	local lo, hi
	if tail ~= "" then
		local a, b = string.match(tail, "^(%S+)%s+(%S+)$")
		if not a or kind == "bool" then fail(string.format("invalid type string %q: %s", text,
			kind == "bool" and "'bool' takes no bounds" or "expected two bounds, LO and HI")) end
		lo, hi = number(a, kind, text), number(b, kind, text)
		if hi < lo then fail(string.format("invalid type string %q: HI is below LO", text)) end
	end
	if count ~= nil and count < 1 then fail(string.format("invalid type string %q: [N] must be 1 or more", text)) end
	return { kind = kind, lo = lo, hi = hi, count = count, rest = rest == true, text = text }
end

local function discrete(item) return item.kind == "bool" or (item.kind == "int" and item.lo ~= nil) end
S.is_discrete = discrete

--- "v3" when the processor uses gym-bizhawk v0.3's names, else "v2".
function S.generation(p)
	if p.ACTION_SPACE ~= nil or p.OBSERVATION_SPACE ~= nil then return "v3" end
	return "v2"
end

local function as_list(v)
	if type(v) == "string" then return { v } end
	return v
end

-- groups: one per declared entry, with its item and its number of values
local function groups_of(list, total, what)
	local groups, fixed, rest_at = {}, 0, nil
	for i, text in ipairs(list) do
		local item = S.parse_item(text)
		groups[i] = { item = item, n = item.count or 1 }
		if item.rest then
			if total == nil then fail(what .. ": '*' (the rest) is only allowed in observations") end
			if rest_at then fail(what .. ": only one item may use '*'") end
			rest_at = i
		else
			fixed = fixed + groups[i].n
		end
	end
	if rest_at then
		local n = total - fixed
		if n < 0 then fail(string.format("%s declares %d values before '*', but getObservation() returned %d", what,
			fixed, total)) end
		groups[rest_at].n = n
	end
	return groups
end

local function bound(v, default)
	if v == nil then return default end
	return v
end

-- the Box over a list of items; low/high collapse to one number when they are all equal
local function box(items, shape)
	local lows, highs, same_lo, same_hi, any_float = {}, {}, true, true, false
	for i, it in ipairs(items) do
		local lo = it.kind == "bool" and 0 or bound(it.lo, -huge)
		local hi = it.kind == "bool" and 1 or bound(it.hi, huge)
		lows[i], highs[i] = lo, hi
		if lo ~= lows[1] then same_lo = false end
		if hi ~= highs[1] then same_hi = false end
		if it.kind == "float" then any_float = true end
	end
	return { type = "Box", shape = shape or { #items }, dtype = any_float and "float32" or "int64",
		low = same_lo and (lows[1] or 0) or lows, high = same_hi and (highs[1] or 0) or highs }
end

local function discrete_space(item)
	if item.kind == "bool" then return { type = "Discrete", n = 2 } end
	return { type = "Discrete", n = item.hi - item.lo + 1, start = item.lo }
end

local function expand(groups)
	local items = {}
	for _, g in ipairs(groups) do
		for _ = 1, g.n do items[#items + 1] = g.item end
	end
	return items
end

-- parts: how a wire value maps onto the flat item list: { space, scalar = true | nil, n = values }
local function tuple_of(parts)
	if #parts == 1 then return parts[1].space, parts end
	local subs = {}
	for i, p in ipairs(parts) do subs[i] = p.space end
	return { type = "Tuple", spaces = subs }, parts
end

-- gym-bizhawk's own action/observation spaces for a generation (each part: a sub-space)
local function exact_parts(groups, gen, obs_total)
	local parts = {}
	if gen == "v2" then
		if obs_total ~= nil then -- one OBSERVATION string for every value
			local item, n = groups[1].item, obs_total
			if discrete(item) and n == 1 then
				parts[1] = { space = discrete_space(item), scalar = true, n = 1 }
			else -- gym-bizhawk makes Discrete(2) for "bool" whatever n is; a Box of 0/1 holds n values
				parts[1] = { space = box(expand({ { item = item, n = n } })), n = n }
			end
			return parts
		end
		for _, it in ipairs(expand(groups)) do
			if discrete(it) then parts[#parts + 1] = { space = discrete_space(it), scalar = true, n = 1 }
			else parts[#parts + 1] = { space = box({ it }), n = 1 } end
		end
		return parts
	end
	for _, g in ipairs(groups) do
		if discrete(g.item) then
			for _ = 1, g.n do parts[#parts + 1] = { space = discrete_space(g.item), scalar = true, n = 1 } end
		elseif g.n > 0 then
			parts[#parts + 1] = { space = box(expand({ g })), n = g.n }
		end
	end
	return parts
end

--- S.actions(desc, gen, form) -> a spec: { space = JSON description, items = {item per value},
-- to_processor = function(wire_action) -> list as gym-bizhawk hands it to step() }
function S.actions(desc, gen, form)
	local list = as_list(desc)
	if type(list) ~= "table" or #list == 0 then
		fail("the processor's action declaration (ACTION / ACTION_SPACE) must be a non-empty list of type strings, got " ..
			tostring(desc))
	end
	local groups = groups_of(list, nil, "ACTION")
	local items = expand(groups)
	local spec = { items = items }
	local n_disc = 0
	for _, it in ipairs(items) do if discrete(it) then n_disc = n_disc + 1 end end
	spec.discrete = n_disc == #items
	local parts, is_tuple
	if form == "gym-bizhawk" then
		parts = exact_parts(groups, gen, nil)
		if gen == "v2" or #parts > 1 then -- gym-bizhawk up to v0.2 always makes a Tuple
			local subs = {}
			for i, q in ipairs(parts) do subs[i] = q.space end
			spec.space, is_tuple = { type = "Tuple", spaces = subs }, true
		else
			spec.space = parts[1].space
		end
	elseif spec.discrete then
		if #items == 1 and #list == 1 and groups[1].item.count == nil then
			spec.space, parts = discrete_space(items[1]), { { scalar = true, n = 1 } }
		else
			local nvec, start, any_start = {}, {}, false
			for i, it in ipairs(items) do
				local d = discrete_space(it)
				nvec[i], start[i] = d.n, d.start or 0
				if start[i] ~= 0 then any_start = true end
			end
			spec.space = { type = "MultiDiscrete", nvec = nvec, start = any_start and start or nil }
			parts = { { n = #items } }
		end
	elseif n_disc == 0 then
		spec.space, parts = box(items), { { n = #items } }
	else -- a mix of discrete and continuous items has no single-array form: a Tuple, as gym-bizhawk
		parts = {}
		local subs = {}
		for i, it in ipairs(items) do
			parts[i] = discrete(it) and { space = discrete_space(it), scalar = true, n = 1 } or { space = box({ it }), n = 1 }
			subs[i] = parts[i].space
		end
		spec.space, is_tuple = { type = "Tuple", spaces = subs }, true
	end
	spec.is_tuple = is_tuple == true
	function spec.to_processor(action)
		local values = {}
		for pi, part in ipairs(parts) do
			local v = action
			if is_tuple then v = action[pi] end
			if part.scalar then values[#values + 1] = v
			else
				if type(v) ~= "table" then v = { v } end
				for k = 1, part.n do values[#values + 1] = v[k] end
			end
		end
		for i, it in ipairs(items) do
			if it.kind == "bool" then values[i] = (values[i] == 1 or values[i] == true) end
		end
		return values
	end
	return spec
end

--- S.observations(desc, gen, form, n) -> { space = JSON description, to_wire = function(values) }
-- n: the number of values getObservation() returned at start-up.
function S.observations(desc, gen, form, n)
	if type(desc) == "table" and desc.type ~= nil then -- a JSON description: as is
		return { space = desc, to_wire = function(v) return v end }
	end
	local list = as_list(desc)
	if type(list) ~= "table" then fail("OBSERVATION must be a type string such as \"int\" or \"float 0 1\", got " ..
		tostring(desc)) end
	local single = gen == "v2" and type(desc) == "string" and not string.find(desc, "[%[%*]")
	local groups
	if single then -- one string applied to every value
		groups = { { item = S.parse_item(desc), n = n } }
	else
		groups = groups_of(list, n, "OBSERVATION")
	end
	local items = expand(groups)
	if #items ~= n then
		fail(string.format("OBSERVATION declares %d values, but getObservation() returned %d (a '*' after the " ..
			"type of the last item, e.g. \"int*\", takes all the remaining values)", #items, n))
	end
	local any_bool = false
	for _, it in ipairs(items) do if it.kind == "bool" then any_bool = true end end
	local function numbers(values) -- booleans (allowed for bool items) as 0/1
		if not any_bool then return values end
		local out = {}
		for i = 1, #values do
			local v = values[i]
			if v == true then v = 1 elseif v == false then v = 0 end
			out[i] = v
		end
		return out
	end
	if form ~= "gym-bizhawk" then
		return { space = box(items), to_wire = numbers }
	end
	local parts = exact_parts(groups, gen, single and n or nil)
	local space = tuple_of(parts)
	return {
		space = space,
		to_wire = function(values)
			values = numbers(values)
			if #parts == 1 then return parts[1].scalar and values[1] or values end
			local out, at = {}, 1
			for i, part in ipairs(parts) do
				if part.scalar then out[i] = values[at]
				else
					local slice = {}
					for k = 1, part.n do slice[k] = values[at + k - 1] end
					out[i] = slice
				end
				at = at + part.n
			end
			return out
		end,
	}
end

--- S.action_mask(items, invalid): booleans (true = allowed) for the discrete items, as
-- sb3-contrib's MaskablePPO reads them: Discrete(n): n entries; several items (MultiDiscrete):
-- each item's values in turn, concatenated. A value is masked out only when EVERY action with
-- that value is in `invalid` (a list of action tuples, one value per item; bool items as
-- booleans or 0/1): per-item masks cannot say "this combination only". Returns the mask and,
-- when some item would have no allowed value (every action invalid), the 1-based index of
-- that item (its mask is then left all true).
function S.action_mask(items, invalid)
	local sizes, total = {}, 1
	for i, it in ipairs(items) do
		if not discrete(it) then fail("an action mask needs discrete action items; item " .. i .. " is " .. it.text) end
		sizes[i] = it.kind == "bool" and 2 or (it.hi - it.lo + 1)
		total = total * sizes[i]
	end
	local seen, counts = {}, {}
	for i = 1, #items do counts[i] = {} end
	for k, tuple in ipairs(invalid or {}) do
		if type(tuple) ~= "table" or #tuple ~= #items then
			fail(string.format("getInvalidActions()[%d]: expected a list of %d values (one per action item), got %s", k,
				#items, type(tuple) == "table" and (#tuple .. " values") or tostring(tuple)))
		end
		local idx = {}
		for i, it in ipairs(items) do
			local v = tuple[i]
			local j
			if it.kind == "bool" then
				if v == true or v == 1 then j = 1 elseif v == false or v == 0 then j = 0 end
			elseif type(v) == "number" and v == floor(v) and v >= it.lo and v <= it.hi then
				j = v - it.lo
			end
			if j == nil then
				fail(string.format("getInvalidActions()[%d][%d] is %s: not a value of the action item %q", k, i,
					tostring(v), it.text))
			end
			idx[i] = j
		end
		local key = table.concat(idx, ",")
		if not seen[key] then
			seen[key] = true
			for i = 1, #items do counts[i][idx[i]] = (counts[i][idx[i]] or 0) + 1 end
		end
	end
	local mask, empty = {}, nil
	for i = 1, #items do
		local others = total / sizes[i]
		local first, any = #mask + 1, false
		for j = 0, sizes[i] - 1 do
			local ok = (counts[i][j] or 0) < others
			mask[#mask + 1] = ok
			if ok then any = true end
		end
		if not any then
			empty = empty or i
			for m = first, #mask do mask[m] = true end
		end
	end
	return mask, empty
end

return S
