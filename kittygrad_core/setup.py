"""kittygrad-core's optional compiled build: Cython 3 compiles the hot modules (``COMPILED_MODULES``)
in pure-Python mode when it is installed and a C compiler works; otherwise the package is pure Python.

The ``.py`` files stay the source (types live in ``.pxd`` files beside them). ``KITTYGRAD_NO_EXTENSIONS=1``
builds pure Python; ``KITTYGRAD_COMPILE=1`` makes a failed compilation an error instead of a fallback
(CI's ``compiled`` session). Editable installs are always pure, so a stale compiled module can never
shadow an edited ``.py`` file.
"""
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# kept equal to kittygrad_core.COMPILABLE (tests/test_compiled_build.py checks)
COMPILED_MODULES = ("_dispatch", "_engine")
REQUIRED = os.environ.get("KITTYGRAD_COMPILE", "") not in ("", "0")
EDITABLE = any(command in sys.argv for command in ("editable_wheel", "develop"))


class OptionalBuildExt(build_ext):
    """Falls back to the pure-Python modules when compiling fails (unless ``KITTYGRAD_COMPILE=1``)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # no compiler, missing headers: the .py files still work
            self._fallback(error, self.extensions)

    def build_extension(self, ext) -> None:  # noqa: ANN001
        try:
            super().build_extension(ext)
        except Exception as error:
            self._fallback(error, [ext])

    def _fallback(self, error: Exception, extensions: list) -> None:
        if REQUIRED:
            raise error
        # A module compiled by an earlier build may still lie in the build folder: it must not be
        # installed in place of the .py file (it would be stale).
        for ext in extensions:
            path = self.get_ext_fullpath(ext.name)
            if os.path.exists(path):
                os.remove(path)
        print(f"kittygrad-core: compiling failed ({error}); installing the pure-Python build", file=sys.stderr)


def extensions() -> list:
    if EDITABLE or os.environ.get("KITTYGRAD_NO_EXTENSIONS", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        # (setuptools also runs this file to ask for the build's requirements, before Cython is there)
        if REQUIRED and any(command in sys.argv for command in ("bdist_wheel", "build_ext", "build")):
            raise
        return []
    # Cythonized from inside src/, so that tracebacks name "kittygrad_core/_engine.py", which linecache
    # resolves against sys.path to the installed .py beside the compiled module (code lines show, and
    # the fuzzer tells deliberate raises from internal failures as in the pure build).
    here = os.path.dirname(os.path.abspath(__file__))
    cwd = os.getcwd()
    os.chdir(os.path.join(here, "src"))
    try:
        return cythonize(
            [f"kittygrad_core/{name}.py" for name in COMPILED_MODULES],
            compiler_directives={"language_level": 3, "annotation_typing": False, "binding": True,
                                 "embedsignature": True},
            build_dir=os.path.join(here, "build", "cython"),  # the generated C stays out of the source tree
            quiet=True,
        )
    finally:
        os.chdir(cwd)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
