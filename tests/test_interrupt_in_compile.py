"""An interrupt that arrives while XLA compiles ends the `offrl` program with status 130 and its message, not
with a segmentation fault: the compilation goes on in a thread of its own after JAX has let the signal's
handler run, and the interpreter's exit tore JAX's runtime down under it (status 139)."""

import subprocess
import sys
import textwrap

# a command whose program takes seconds to compile, interrupted (as the run logger's SIGTERM handler does)
# 0.3 s into the compilation itself
COMMAND = textwrap.dedent('''
    import signal


    def main(rest):
        import jax
        import jax._src.compiler as compiler
        import jax.numpy as jnp

        def f(x):
            def body(c, i):
                return jnp.sin(c) * i + jnp.cos(c @ c), None

            # unrolled by XLA's lowering, not by tracing: quick to trace, many seconds to compile
            return jax.lax.scan(body, x, jnp.arange(800.0), unroll=800)[0]

        lowered = jax.jit(f).lower(jnp.ones((8, 8)))

        def on_alarm(signum, frame):
            raise KeyboardInterrupt("SIGALRM")

        real = compiler.backend_compile_and_load

        def compile_then_interrupt(*args, **kwargs):
            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            return real(*args, **kwargs)

        compiler.backend_compile_and_load = compile_then_interrupt
        lowered.compile()
        return 0
''')


PROGRAM = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import offrl.cli as cli
    cli.COMMANDS["slowcompile"] = ("slowcompile", "a test command")
    sys.argv = ["offrl", "slowcompile"]
    sys.exit(cli.main())
''')


def test_an_interrupt_during_compilation_exits_130_not_with_a_crash(tmp_path):
    (tmp_path / "slowcompile.py").write_text(COMMAND)
    p = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path)], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"})
    assert p.returncode == 130, (p.returncode, p.stderr[-2000:])
    assert p.stderr.strip().splitlines()[-1] == "offrl slowcompile: interrupted"
