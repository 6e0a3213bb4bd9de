-- Test game that cannot start; VECBRIDGE_CONFIG {"variant": ...}:
--   bad_space: an invalid observation type string; no_step: the game lacks step().
local vecbridge = require("vecbridge")
local variant = vecbridge.config().variant
local game = { observation_space = "float[2]", action_space = "bool" }
function game:reset() return { 0, 0 }, {} end
function game:step() return { 0, 0 }, 0, false, false, {} end
if variant == "bad_space" then game.observation_space = "floot[2]" end
if variant == "no_step" then game.step = nil end
vecbridge.serve(game)
