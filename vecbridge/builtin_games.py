"""Every built-in game, registered in one place (``import vecbridge`` runs this).

Backends only build specs; the lazy ``"module:function"`` form imports a backend when
its game is first made, not at ``import vecbridge``. Each line also gives the episode
step limit that Gymnasium's ``TimeLimit`` and ``vecbridge train``/``eval`` apply: far above
a natural episode, so it only ends one that would never end (a policy that keeps the
ball forever, or repeats a move that changes nothing).
"""

from functools import partial

from vecbridge.launch.spec import declared_python_game
from vecbridge.registry import register

# The Python games: built when first made (their options, the constructors' keyword parameters, are
# read by importing the game module). Echo's episodes are 200 steps, Catch's 70 (by default): the
# limit never touches them.
register("vecbridge/Echo-v0", partial(declared_python_game, "vecbridge.games.echo:EchoEnv", name="Echo"),
         max_episode_steps=1000)
register("vecbridge/EchoImage-v0", partial(declared_python_game, "vecbridge.games.echo:EchoImageEnv", name="EchoImage"),
         max_episode_steps=1000)
register("vecbridge/Catch-v0", partial(declared_python_game, "vecbridge.games.catch:CatchEnv", name="Catch"),
         max_episode_steps=1000)
# 4,500 steps of 4 frames: 5 minutes of play; a random policy's episodes last about 870 steps.
register("vecbridge/EscapeFromPong-v0", "vecbridge.backends.fceux:escape_from_pong_spec", max_episode_steps=4500)
register("vecbridge/EscapeFromPongJS-v0", "vecbridge.backends.node:escape_from_pong_js_spec", max_episode_steps=4500)
register("vecbridge/EscapeFromPongBizHawk-v0", "vecbridge.backends.bizhawk:escape_from_pong_bizhawk_spec",
         max_episode_steps=4500)
# 2,000 moves: past the 4096 tile (a move adds 2.2 to the board's sum on average); random play
# ends after about 140. A policy stuck on a move that changes nothing is cut here.
register("vecbridge/2048-v0", "vecbridge.backends.browser:game_2048_spec", max_episode_steps=2000)
# 4,500 steps of 4 frames, as stable-retro's own PPO example: 5 minutes of play.
register("vecbridge/Airstriker-Genesis-v0", "vecbridge.backends.retro:airstriker_spec", max_episode_steps=4500)
