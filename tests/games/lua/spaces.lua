-- Test game for composite spaces; VECBRIDGE_CONFIG {"variant": ...} picks the spaces:
--   multidiscrete: action {"int 0 3", "bool"} = MultiDiscrete([4, 2]);
--                  observation Dict {last = int32 Box [2], count = Discrete(100)}
--   dict:          action Dict {move = Discrete(4), jump = MultiBinary(2), aim = float32 Box [2]};
--                  observation the same Dict, echoing the action
--   tuple:         action {"int 0 3", "float 0 1"} = Tuple(Discrete(4), float32 Box []);
--                  observation "float -10 10 [2]" = {action[1], action[2]}
--   scalar:        action "float -1 1" (a float32 Box of shape []); observation "int" (int64 Box of shape [])
--                  = floor(action * 100)
local vecbridge = require("vecbridge")

local variant = vecbridge.config().variant or "multidiscrete"
local game = { name = "spaces-" .. variant, count = 0 }

if variant == "multidiscrete" then
	game.action_space = { "int 0 3", "bool" }
	game.observation_space = {
		type = "Dict",
		spaces = {
			last = { type = "Box", low = -10, high = 10, shape = { 2 }, dtype = "int32" },
			count = { type = "Discrete", n = 100 },
		},
	}
	game.initial = { last = { 0, 0 }, count = 0 }
	function game:observe(action) return { last = { action[1], action[2] }, count = self.count } end
elseif variant == "dict" then
	local sub = {
		move = { type = "Discrete", n = 4 },
		jump = { type = "MultiBinary", n = 2 },
		aim = { type = "Box", low = -1, high = 1, shape = { 2 }, dtype = "float32" },
	}
	game.action_space = { type = "Dict", spaces = sub }
	game.observation_space = { type = "Dict", spaces = sub }
	game.initial = { move = 0, jump = { 0, 0 }, aim = { 0, 0 } }
	function game:observe(action) return { move = action.move, jump = action.jump, aim = action.aim } end
elseif variant == "tuple" then
	game.action_space = { "int 0 3", "float 0 1" }
	game.observation_space = "float -10 10 [2]"
	game.initial = { 0, 0 }
	function game:observe(action) return { action[1], action[2] } end
elseif variant == "scalar" then
	game.action_space = "float -1 1"
	game.observation_space = "int"
	game.initial = 0
	function game:observe(action) return math.floor(action * 100) end
else
	error("unknown variant " .. tostring(variant))
end

function game:reset()
	self.count = 0
	return self.initial, {}
end

function game:step(action)
	self.count = self.count + 1
	self.last_action = action
	return self:observe(action), 0, self.count >= 3, false, {}
end

-- the last action as Lua saw it, described: type of each part
function game:describe_action()
	local function desc(v)
		if type(v) == "table" then
			local parts = {}
			local keys = {}
			for k in pairs(v) do keys[#keys + 1] = k end
			table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
			for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. desc(v[k]) end
			return "{" .. table.concat(parts, ",") .. "}"
		end
		if math.type then return math.type(v) or type(v) end
		return type(v)
	end
	return desc(self.last_action)
end

vecbridge.serve(game)
