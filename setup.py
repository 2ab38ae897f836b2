"""Builds the extension latte._latte with CMake (python/CMakeLists.txt) and packages it with the
bundled default model. With LATTE_BUILD_DIR set, that configured build folder is reused (only the
module's target is built there); else a private build folder is configured (no tests, no trainer)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        given = os.environ.get("LATTE_BUILD_DIR")
        if given:
            build_dir = Path(given).resolve()
        else:
            build_dir = Path(self.build_temp).resolve() / "cmake"
            subprocess.check_call(
                ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                 "-DLATTE_PYTHON=ON", "-DLATTE_BUILD_TESTS=OFF", "-DLATTE_BUILD_TRAINER=OFF",
                 f"-DPython3_EXECUTABLE={sys.executable}"])
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "latte_python"])
        built = sorted((build_dir / "python" / "latte").glob("_latte*.so"))
        if not built:
            sys.exit(f"setup.py: no _latte*.so in {build_dir / 'python' / 'latte'} (is LATTE_PYTHON on there?)")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], target)
        # The bundled model, where latte.Model() looks first once installed.
        shutil.copytree(ROOT / "models" / "default", target.parent / "models" / "default", dirs_exist_ok=True)


(ROOT / "build").mkdir(exist_ok=True)
setup(
    packages=["latte"],
    package_dir={"": "python"},
    package_data={"latte": ["__init__.pyi", "py.typed"]},
    ext_modules=[Extension("latte._latte", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # Setuptools' scratch files under the ignored build folder, not beside the sources.
    options={"build": {"build_base": str(ROOT / "build" / "setuptools")},
             "egg_info": {"egg_base": str(ROOT / "build")}},
    zip_safe=False,
)
