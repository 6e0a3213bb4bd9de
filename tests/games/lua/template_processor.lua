-- A processor written from gym-bizhawk's guide template ("Make Original Environment"),
-- filled in with BizHawk's Lua API only. vecbridge runs it unchanged under FCEUX (on
-- efp.nes) and under the BizHawk stand-in (on fake_bizhawk_emu.lua's tiny console).
-- It reads RAM $10-$17 and presses Right/Left.

-- gymbizhawk/bizhawk.lua へのパスをこのファイルからの相対パスで指定しロードします
package.path = package.path .. ';../../gymbizhawk/bizhawk.lua'
local bizhawk = require('bizhawk')

local EnvProcessor = {}
EnvProcessor.new = function()
   local this = {}

   -- abstract property
   this.NAME = "TemplateProcessor"
   this.ROM = bizhawk.getenv_safe("TEMPLATE_ROM")
   this.HASH = ""  -- ROMのHASH値(省略可能)
   this.ACTION = { "bool", "bool" }  -- action types: Right, Left
   this.OBSERVATION = "int"  -- observation type

   -- abstract function
   -- 最初に呼ばれます
   this.setup = function(self, env, setup_str)
      self.env = env
      self.episode_frames = tonumber(setup_str) or 200
   end

   -- abstract function
   -- episodeの最初に呼ばれます
   this.reset = function(self)
      self.t = 0
      self.prev = mainmemory.read_u8(0x13)
   end

   -- abstract function
   -- actionを元に1step進めます
   -- 戻り値は報酬と終了したかどうかを返します
   this.step = function(self, action)
      local keys = {}
      if action[1] then keys[#keys + 1] = "P1 Right" end
      if action[2] then keys[#keys + 1] = "P1 Left" end
      self.env:setKeys(keys)
      emu.frameadvance()
      self.t = self.t + 1
      local now = mainmemory.read_u8(0x13)
      local reward = (now ~= self.prev) and 1 or 0
      self.prev = now
      local done = self.t >= self.episode_frames
      return reward, done
   end

   -- 状態を配列で返します。画像を使う場合は使われません。
   this.getObservation = function(self)
      local d = {}
      for addr = 0x10, 0x17 do
         d[#d + 1] = mainmemory.read_u8(addr)
      end
      return d
   end

   return this
end

---- GymEnvの実行を書きます。log名は任意です。
local env = bizhawk.GymEnv.new("_custom.log")
env:run(EnvProcessor.new())
