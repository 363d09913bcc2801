"""Build hook: the wheel carries the checkout's configs/ and llm_texts/ inside the package, as itaclip/_data/.

The checkout keeps one copy of each (the top-level folders); itaclip.presets.shipped()
finds them in either place.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("configs", "llm_texts")


class BuildWithData(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        for folder in SHIPPED:
            target = Path(self.build_lib) / "itaclip" / "_data" / folder
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / folder, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})
