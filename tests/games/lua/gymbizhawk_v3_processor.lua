-- A processor written from gym-bizhawk v0.3's documentation ("Making a Custom environment",
-- docs_src/pages/custom.rst): ACTION_SPACE / OBSERVATION_SPACE lists with [N] and *, the
-- ROM from an environment variable, setup/reset/step/getObservation and the optional
-- getInfo, getInvalidActions and backup/restore, ending with bizhawk.run(...).
-- vecbridge runs it unchanged under FCEUX (efp.nes) and under the BizHawk stand-in.
package.path = package.path .. ';../../gymbizhawk/bizhawk.lua'
local bizhawk = require('bizhawk')

local EnvProcessor = {}
EnvProcessor.new = function()
    local this = {}
    this.NAME = "CurrentRelease"
    this.ROM = bizhawk.getenv_safe("VB_TEST_ROM")
    this.HASH = ""
    this.ACTION_SPACE = {
        "int 0 2", -- 0: stand, 1: right, 2: left
        "bool",    -- A
    }
    this.OBSERVATION_SPACE = {
        "int 0 255", -- RAM $10
        "bool[2]",   -- RAM $11, $12 non-zero
        "int*",      -- RAM $13 .. $17
    }

    this.setup = function(self, env, setup_str)
        self.env = env
        self.limit = tonumber(setup_str) or 300
        self.setup_mode = env.mode
        self.setup_observation_type = env.observation_type
    end

    this.reset = function(self)
        self.t = 0
    end

    this.step = function(self, action)
        local keys = {}
        if action[1] == 1 then keys[#keys + 1] = "P1 Right" end
        if action[1] == 2 then keys[#keys + 1] = "P1 Left" end
        if action[2] then keys[#keys + 1] = "P1 A" end
        self.env:setKeys(keys)
        emu.frameadvance()
        self.t = self.t + 1
        return (action[1] == 1) and 1 or 0, false, self.t >= self.limit
    end

    this.getObservation = function(self)
        local d = { mainmemory.read_u8(0x10) }
        d[#d + 1] = (mainmemory.read_u8(0x11) ~= 0) and 1 or 0
        d[#d + 1] = (mainmemory.read_u8(0x12) ~= 0) and 1 or 0
        for addr = 0x13, 0x17 do d[#d + 1] = mainmemory.read_u8(addr) end
        return d
    end

    this.getInfo = function(self)
        return { t = self.t }
    end

    -- On even steps moving left is not allowed (whatever A is); A while standing is never
    -- allowed (a combination: per-item masks cannot forbid it).
    this.getInvalidActions = function(self)
        local d = { { 0, true } }
        if self.t % 2 == 0 then
            d[#d + 1] = { 2, false }
            d[#d + 1] = { 2, true }
        end
        return d
    end

    this.backup = function(self)
        return { self.t }
    end
    this.restore = function(self, d)
        self.t = d[1]
    end

    return this
end

bizhawk.run(EnvProcessor.new())
