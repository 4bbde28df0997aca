"""Only what pyproject.toml cannot say: the top-level `prompts/` folder (the one copy of the
prompt templates) is installed inside the package as `medbench/prompts/`, so a wheel carries
every file the package reads (loaded with importlib.resources, see medbench/tasks/base.py)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["medbench", "medbench.*"]), "medbench.prompts"],
    package_dir={"medbench.prompts": "prompts"},
    package_data={"medbench": ["publish/templates/*"], "medbench.prompts": ["*.j2"]},
    include_package_data=False,
)
