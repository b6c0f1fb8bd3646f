"""Build hook (all other metadata is in pyproject.toml): the built-in device profiles live in the top-level
``profiles/`` folder, where users find and copy them, and ship inside the package as ``edgeyolo/profiles/``."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROFILES = Path(__file__).resolve().parent / "profiles"


class BuildWithProfiles(build_py):
    def run(self):
        super().run()
        if (
            self.editable_mode
        ):  # an editable install reads profiles/ in place (edgeyolo.profiles.builtin_profile_dir)
            return
        dest = Path(self.build_lib) / "edgeyolo" / "profiles"
        for src in sorted(PROFILES.glob("*.yaml")):
            self.copy_file(str(src), str(dest / src.name))


setup(cmdclass={"build_py": BuildWithProfiles})
