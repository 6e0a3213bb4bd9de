"""Every built-in game, registered in one place (``import vecbridge`` runs this).

Backends only build specs; the lazy ``"module:function"`` form imports a backend when
its game is first made, not at ``import vecbridge``. Each line also gives the episode
step limit that Gymnasium's ``TimeLimit`` and ``vecbridge eval`` apply.
"""

from vecbridge.launch.spec import python_game
from vecbridge.registry import register

register("vecbridge/Echo-v0", python_game("vecbridge.games.echo:EchoEnv", name="Echo"))
register("vecbridge/EchoImage-v0", python_game("vecbridge.games.echo:EchoImageEnv", name="EchoImage"))
register("vecbridge/Catch-v0", python_game("vecbridge.games.catch:CatchEnv", name="Catch"))
register("vecbridge/EscapeFromPong-v0", "vecbridge.backends.fceux:escape_from_pong_spec")
register("vecbridge/EscapeFromPongJS-v0", "vecbridge.backends.node:escape_from_pong_js_spec")
register("vecbridge/2048-v0", "vecbridge.backends.browser:game_2048_spec")
register("vecbridge/EscapeFromPongBizHawk-v0", "vecbridge.backends.bizhawk:escape_from_pong_bizhawk_spec")
