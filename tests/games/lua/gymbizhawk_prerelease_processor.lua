-- A processor in gym-bizhawk's pre-release form (its first examples, February 2024):
-- `bizhawk.new(log)`, `init(self, env, py_init_str)`, ACTION / OBSERVATION, the ROM from an
-- environment variable, `step` returning reward, done, and no getObservation: the
-- observation is the screen. Written from that form's description, not copied.
package.path = package.path .. ';../../gymbizhawk/bizhawk.lua'

local bizhawk = require('bizhawk')

local EnvProcessor = {}
EnvProcessor.new = function()
    local this = {}
    this.NAME = "PreRelease"
    this.ROM = os.getenv("VB_TEST_ROM")
    this.HASH = ""
    this.ACTION = {
        "bool", -- Right
        "bool", -- Left
        "bool", -- A
        "bool", -- B
    }
    this.OBSERVATION = "int"

    this.init = function(self, env, py_init_str)
        self.env = env
        self.init_str = py_init_str
        if py_init_str == "" then
            self.loadslot = -1
        else
            self.loadslot = tonumber(py_init_str)
        end
    end

    this.reset = function(self)
        if self.loadslot ~= -1 then
            savestate.loadslot(self.loadslot)
        end
    end

    this.step = function(self, action)
        local buttons = joypad.get()
        for k, _ in pairs(buttons) do buttons[k] = false end
        buttons["P1 Right"] = action[1]
        buttons["P1 Left"] = action[2]
        buttons["P1 A"] = action[3]
        buttons["P1 B"] = action[4]
        joypad.set(buttons)
        emu.frameadvance()
        return 0, false
    end

    return this
end

---- main
local env = bizhawk.new("_prerelease.log")
env:run(EnvProcessor.new())
