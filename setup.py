"""The build step pyproject.toml cannot express: the wheel carries the configuration tree.

`conf/` stays at the top of the checkout (DESIGN.md); a wheel copies it to `trainfix/conf/`, where
`trainfix.training.compose.find_conf_dir` looks first, so `pip install .` (not editable) has its
configs. An editable install reads the checkout's `conf/` and copies nothing.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONF = Path(__file__).resolve().parent / "conf"


class BuildPyWithConf(build_py):
    """build_py, then conf/**/*.yaml (and conf/README.md) into <build>/trainfix/conf."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "trainfix" / "conf"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(CONF, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithConf})
