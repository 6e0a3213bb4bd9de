-- The shortest useful gym-bizhawk processor (v0.3 form) for Escape from Pong (Debian's efp.nes):
-- vecbridge runs it unchanged in headless FCEUX (docs/games.md, "An emulator processor").
--   action: 0 none, 1 up, 2 down, 3 left, 4 right (thrust; the ball moves away from it)
--   observation: ball x, ball y, paddle x, paddle y (RAM bytes)
--   reward: +1 when the ball escapes (the next level loads), -1 when the level restarts
package.path = package.path .. ';../../gymbizhawk/bizhawk.lua'
local bizhawk = require('bizhawk')

local KEYS = { [0] = {}, { "P1 Up" }, { "P1 Down" }, { "P1 Left" }, { "P1 Right" } }

local EnvProcessor = {}
EnvProcessor.new = function()
    local this = {}
    this.NAME = "EfpMinimal"
    this.ROM = bizhawk.getenv_safe("EFP_ROM", "/usr/share/nes/efp.nes")
    this.HASH = ""
    this.ACTION_SPACE = { "int 0 4" }
    this.OBSERVATION_SPACE = { "int 0 255 [4]" }

    this.setup = function(self, env, setup_str)
        self.env = env
    end

    this.level = function(self)  -- the level script pointer: changes when the ball escapes
        return mainmemory.read_u8(0x31) + 256 * mainmemory.read_u8(0x32)
    end

    this.paused = function(self)  -- a level (re)starting
        local p = mainmemory.read_u8(0x02)
        return p ~= 0 and p ~= 2
    end

    this.reset = function(self)
        while self:level() == 0 or self:paused() do emu.frameadvance() end  -- to the first live frame
        self.last_level, self.restarts = self:level(), 0
    end

    this.step = function(self, action)
        self.env:setKeys(KEYS[action[1]])
        local was_paused = self:paused()
        emu.frameadvance()
        local reward = 0
        if self:level() ~= self.last_level then
            reward, self.last_level = 1, self:level()
        elseif self:paused() and not was_paused then
            reward, self.restarts = -1, self.restarts + 1
        end
        return reward, self.restarts >= 3  -- done after 3 lost balls
    end

    this.getObservation = function(self)
        return { mainmemory.read_u8(0x16), mainmemory.read_u8(0x18), mainmemory.read_u8(0x1E), mainmemory.read_u8(0x1F) }
    end

    return this
end

bizhawk.run(EnvProcessor.new())
